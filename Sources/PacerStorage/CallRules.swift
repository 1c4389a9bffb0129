import PacerCore
import PacerLimits

/// What an answer, a runner's death and a release do to a call, decided from the call's row alone: pure, and
/// table-tested (`CallRulesTests`). The stores only read and write the rows (`CallRows`); `Completing.swift` and
/// `Recovering.swift` apply these rules to batches. See docs/internals.md ("Where each rule lives").
public enum CallRules {
    /// What one event writes: the call's new row (nil: unchanged), a try for the history, a final result.
    public struct Effect: Sendable, Equatable {
        public var row: CallRow?
        public var attempt: AttemptRow?
        public var result: ResultRow?

        public init(row: CallRow? = nil, attempt: AttemptRow? = nil, result: ResultRow? = nil) {
            self.row = row
            self.attempt = attempt
            self.result = result
        }
    }

    public static let lateAnswer = "late answer, after this runner's calls were recovered"
    public static let abandoned = "the runner stopped before recording an answer"
    public static let uncertainAfterSending = """
        the runner stopped after sending; the outcome is unknown and the call is not idempotent, so it was not sent \
        again
        """
    public static let deadOnLastAttempt = "the runner stopped while this call was in flight on its last allowed attempt"
    public static let keyedOnLastAttempt = """
        the runner stopped while this keyed call was in flight on its last allowed attempt; the order may have been \
        placed
        """

    // MARK: An answer

    /// Whether `c` is the answer to the try that holds `row`: the lease is the answering runner's and (when the
    /// answer says which try it is for) the dispatch mark is this try's, so an answer written again after its
    /// first commit's reply was lost never lands on a later try of the same call.
    public static func holdsLease(_ c: Completion, _ row: CallRow) -> Bool {
        row.leaseOwner == c.runner && row.state == .inFlight && (c.dispatchedAt == nil || row.dispatchedAt == c.dispatchedAt)
    }

    /// What the answer `c` does to its call (`row` nil: the call was deleted meanwhile, by `account remove
    /// --purge`; nothing is written).
    public static func complete(_ c: Completion, _ row: CallRow?) -> Effect {
        guard let row else { return Effect() }
        guard holdsLease(c, row) else { return lateAnswer(c, row) }
        var next = row
        next.state = c.state
        next.attempts = c.attempts
        next.nextAttemptAt = c.nextAttemptAt
        next.lastClass = c.classification
        next.lookup = c.state == .retrying ? c.lookup : nil
        if c.mayHaveActed { next.maybeDoneBy = c.attempts }
        next.leaseOwner = nil
        next.leaseExpiresAt = nil
        next.dispatchedAt = nil
        var effect = Effect(row: next, attempt: attempt(c, message: c.message))
        if c.state.isTerminal {
            effect.result = result(c, error: c.error)
        } else if c.state == .retrying, next.lookup == nil, row.runCancelled {
            // Its run was cancelled while it was in flight: it is not tried again (a keyed order still gets its
            // lookup).
            effect.row?.state = .cancelled
            effect.result = result(c, error: RetryRules.cancelledError)
        }
        return effect
    }

    /// An answer whose try no longer holds its call: its runner was found dead meanwhile. A try that never left
    /// changes nothing. A real answer is recorded, and one that settles the call for good (done, or already done)
    /// replaces what recovery decided, if recovery could not know: a call left `uncertain`, or put back and not
    /// sent again yet (or cancelled meanwhile by an operator). A refusal or a failure leaves the call to the runner
    /// that holds it now.
    static func lateAnswer(_ c: Completion, _ row: CallRow) -> Effect {
        guard c.httpStatus != nil else { return Effect() }
        var effect = Effect(attempt: attempt(c, message: lateAnswer + (c.message.map { ": " + $0 } ?? "")))
        guard c.state == .succeeded || c.state == .duplicate, recoveryCouldNotKnow(row) else { return effect }
        var next = row
        next.state = c.state
        next.lastClass = c.classification
        next.lookup = nil
        effect.row = next
        effect.result = result(c, error: c.error)
        return effect
    }

    /// A call recovery took from a dead runner without knowing what the provider did with it.
    static func recoveryCouldNotKnow(_ row: CallRow) -> Bool {
        guard row.leaseOwner == nil else { return false }
        switch row.state {
        case .uncertain:
            return [uncertainAfterSending, keyedOnLastAttempt].contains { row.resultError?.hasPrefix($0) == true }
        case .queued, .retrying, .cancelled:
            return row.dispatchedAt == nil
        default:
            return false
        }
    }

    /// The spends an answer closes, among those its runner made for the call: the open ones made up to this
    /// try's dispatch (two, when a spend's commit reply was lost and it was made again; one per pool the call
    /// draws from), else the latest one of each pool that recovery closed. The provider saw the request until the
    /// answer came: its tokens stay spent a window from then.
    public static func settlements(_ c: Completion, _ spends: [CallSpend]) -> [SpendSettlement] {
        let ours = spends.filter { $0.call == c.call && $0.owner == c.runner }
        let open = ours.filter { $0.open && $0.at <= (c.dispatchedAt ?? .max) }
        let latestClosed = Dictionary(grouping: ours.filter { !$0.open }, by: \.pool)
            .compactMap { $0.value.max { $0.id < $1.id } }
        let chosen = open.isEmpty ? latestClosed : open
        return chosen.map { SpendSettlement(id: $0.id, at: max($0.at, c.finishedAt), accepted: c.accepted) }
    }

    static func attempt(_ c: Completion, message: String?) -> AttemptRow {
        AttemptRow(call: c.call, attempt: c.attempts, runner: c.runner, startedAt: c.startedAt,
                   latencyMilliseconds: c.latencyMilliseconds, httpStatus: c.httpStatus, code: c.code,
                   classification: c.classification, message: message)
    }

    static func result(_ c: Completion, error: String?) -> ResultRow {
        ResultRow(call: c.call, httpStatus: c.httpStatus, code: c.code, data: c.data, error: error,
                  finishedAt: c.finishedAt)
    }

    // MARK: A dead runner's call

    /// What recovery does to a call whose runner was declared dead, at `now`. One it had not sent goes back to the
    /// queue. One it sent counts the try as an attempt (a call that kills its runner every time ends instead of
    /// looping): an unkeyed order ends `uncertain`; out of attempts, an idempotent call ends `dead` and a keyed
    /// order `uncertain` (it may have been placed); otherwise it is sent again (a keyed one looked up first, after
    /// the grace a request handed to the dead runner's HTTP client has to leave).
    public static func recover(_ row: CallRow, now: Int64) -> Effect {
        var next = row
        next.leaseOwner = nil
        next.leaseExpiresAt = nil
        guard let sent = row.dispatchedAt else { return requeue(next, now: now) }
        next.attempts += 1
        next.maybeDoneBy = next.attempts
        let attempt = AttemptRow(call: row.id, attempt: next.attempts, runner: row.leaseOwner ?? "?", startedAt: sent,
                                 classification: "abandoned", message: abandoned)
        func end(_ state: CallState, _ error: String) -> Effect {
            next.state = state
            return Effect(row: next, attempt: attempt, result: ResultRow(call: row.id, error: error, finishedAt: now))
        }
        // An unkeyed order may have been placed: never sent again, and never `dead` (which `pacer retry` re-sends
        // by default), whatever its attempts.
        if !row.idempotent && !row.keyed { return end(.uncertain, uncertainAfterSending) }
        if next.attempts >= row.retryAttempts { return row.keyed ? end(.uncertain, keyedOnLastAttempt) : end(.dead, deadOnLastAttempt) }
        if row.keyed {
            next.lookup = next.lookup ?? .probe
            next.nextAttemptAt = now + WindowBudget.deadOwnerGraceMilliseconds
        }
        next.dispatchedAt = nil
        var effect = requeue(next, now: now)
        effect.attempt = attempt
        return effect
    }

    /// Back to the queue, due no earlier than `now`; a call of a cancelled run is cancelled instead (unless it
    /// has a lookup to make). Only the calls recovery puts back: nothing else brings a cancelled run's call back.
    static func requeue(_ row: CallRow, now: Int64) -> Effect {
        var next = returned(row)
        next.nextAttemptAt = max(next.nextAttemptAt, now)
        next.dispatchedAt = nil
        guard row.runCancelled, next.lookup == nil else { return Effect(row: next) }
        next.state = .cancelled
        return Effect(row: next, result: ResultRow(call: row.id, error: RetryRules.cancelledError, finishedAt: now))
    }

    // MARK: An operator's retry and cancel

    /// A finished call put back by `pacer retry`: fresh attempts, due now; a keyed order that ended `uncertain` is
    /// looked up by its key before it is sent again.
    public static func retried(_ row: CallRow, now: Int64) -> CallRow {
        var next = row
        next.lookup = row.keyed && row.state == .uncertain ? .probe : nil
        next.state = .queued
        next.attempts = 0
        next.nextAttemptAt = now
        next.lastClass = nil
        next.leaseOwner = nil
        next.leaseExpiresAt = nil
        next.dispatchedAt = nil
        return next
    }

    /// A call of a run `pacer cancel` cancels, or nil when it goes on: one waiting in the queue, or claimed and not
    /// sent yet (its spend then finds it gone), is cancelled; one in flight finishes (and is cancelled if it would
    /// be tried again, see `complete`), and so does a keyed order waiting for its lookup, which may have been
    /// placed.
    public static func cancelled(_ row: CallRow, now: Int64) -> Effect? {
        guard row.lookup == nil else { return nil }
        guard row.state == .queued || row.state == .retrying || (row.state == .inFlight && row.dispatchedAt == nil)
        else { return nil }
        var next = row
        next.state = .cancelled
        next.leaseOwner = nil
        next.leaseExpiresAt = nil
        return Effect(row: next, result: ResultRow(call: row.id, error: RetryRules.cancelledError, finishedAt: now))
    }

    // MARK: A release

    /// A call given back unsent by the runner that claimed it (on shutdown), or nil when it is not that runner's
    /// to give back.
    public static func release(_ row: CallRow, runner: String) -> CallRow? {
        guard row.leaseOwner == runner, row.state == .inFlight, row.dispatchedAt == nil else { return nil }
        return returned(row)
    }

    /// Out of any lease and back in the queue; a call tried before goes back as `retrying`, even one whose tries
    /// used no attempt (refused for the rate), so it keeps its place.
    static func returned(_ row: CallRow) -> CallRow {
        var next = row
        next.state = row.attempts > 0 || row.lastClass != nil ? .retrying : .queued
        next.leaseOwner = nil
        next.leaseExpiresAt = nil
        return next
    }
}
