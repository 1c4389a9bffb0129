import PacerCore
import PacerLimits
import PacerStorage
import Testing

/// The rules of completion, recovery and release, over rows alone (no store): `CallRules`.
@Suite struct CallRulesTests {
    static let inFlight = CallRow(id: 7, state: .inFlight, attempts: 1, nextAttemptAt: 100, lastClass: "transient",
                                  leaseOwner: "r1", leaseExpiresAt: 30_000, dispatchedAt: 500)

    static func answer(_ state: CallState, status: Int? = 200, runner: String = "r1", dispatchedAt: Int64? = 500,
                       classification: String = "ok", lookup: LookupReason? = nil, acted: Bool = false) -> Completion {
        Completion(call: 7, runner: runner, startedAt: 500, latencyMilliseconds: 40, httpStatus: status, code: "200000",
                   classification: classification, message: "m", state: state, attempts: 2, nextAttemptAt: 2_000,
                   data: "{}", error: state == .failed ? "e" : nil, finishedAt: 540,
                   lookup: lookup, mayHaveActed: acted, dispatchedAt: dispatchedAt)
    }

    /// Each case: the call's row, the answer, then what the row becomes (nil: unchanged), whether a try is
    /// recorded (and as late), and the result's error (nil: no result written).
    struct AnswerCase: Sendable, CustomTestStringConvertible {
        var name: String
        var row: CallRow?
        var answer: Completion
        var state: CallState?
        var recorded: Bool
        var late: Bool = false
        var resultError: String??
        var testDescription: String { name }
    }

    static let answerCases: [AnswerCase] = {
        var cancelledRun = inFlight
        cancelledRun.runCancelled = true
        var recovered = inFlight
        recovered.leaseOwner = nil
        recovered.state = .uncertain
        recovered.resultError = CallRules.uncertainAfterSending
        var recoveredDead = recovered
        recoveredDead.state = .dead
        recoveredDead.resultError = CallRules.deadOnLastAttempt
        var requeued = inFlight
        requeued.leaseOwner = nil
        requeued.state = .retrying
        requeued.dispatchedAt = nil
        var takenByOther = inFlight
        takenByOther.leaseOwner = "r2"
        return [
            AnswerCase(name: "the lease holder's success ends the call", row: inFlight, answer: answer(.succeeded),
                       state: .succeeded, recorded: true, resultError: .some(nil)),
            AnswerCase(name: "a failure ends it with its error", row: inFlight,
                       answer: answer(.failed, classification: "permanent"), state: .failed, recorded: true,
                       resultError: "e"),
            AnswerCase(name: "a retry goes back to the queue, no result", row: inFlight,
                       answer: answer(.retrying, status: 503, classification: "transient"), state: .retrying,
                       recorded: true, resultError: nil),
            AnswerCase(name: "a retry of a cancelled run is cancelled", row: cancelledRun,
                       answer: answer(.retrying, status: 503, classification: "transient"), state: .cancelled,
                       recorded: true, resultError: .some(RetryRules.cancelledError)),
            AnswerCase(name: "a keyed retry of a cancelled run still gets its lookup", row: cancelledRun,
                       answer: answer(.retrying, status: nil, classification: "transport", lookup: .probe),
                       state: .retrying, recorded: true, resultError: nil),
            AnswerCase(name: "an answer for an earlier try (another dispatch mark) is late", row: inFlight,
                       answer: answer(.succeeded, dispatchedAt: 400), state: nil, recorded: true, late: true,
                       resultError: nil),
            AnswerCase(name: "a late success replaces recovery's uncertain", row: recovered,
                       answer: answer(.succeeded), state: .succeeded, recorded: true, late: true,
                       resultError: .some(nil)),
            AnswerCase(name: "a late success does not undo a dead call", row: recoveredDead,
                       answer: answer(.succeeded), state: nil, recorded: true, late: true, resultError: nil),
            AnswerCase(name: "a late success settles a call put back and not sent again", row: requeued,
                       answer: answer(.duplicate, classification: "duplicate"), state: .duplicate, recorded: true,
                       late: true, resultError: .some(nil)),
            AnswerCase(name: "a late failure leaves the call to its new holder", row: requeued,
                       answer: answer(.failed, classification: "permanent"), state: nil, recorded: true, late: true,
                       resultError: nil),
            AnswerCase(name: "a late success leaves a call another runner holds", row: takenByOther,
                       answer: answer(.succeeded), state: nil, recorded: true, late: true, resultError: nil),
            AnswerCase(name: "a late try that never left changes nothing", row: recovered,
                       answer: answer(.retrying, status: nil, classification: "transport"), state: nil,
                       recorded: false, resultError: nil),
            AnswerCase(name: "a deleted call is left alone", row: nil, answer: answer(.succeeded), state: nil,
                       recorded: false, resultError: nil),
        ]
    }()

    @Test(arguments: answerCases)
    func anAnswer(_ t: AnswerCase) {
        let effect = CallRules.complete(t.answer, t.row)
        #expect(effect.row?.state == t.state)
        #expect((effect.attempt != nil) == t.recorded)
        if t.recorded { #expect(effect.attempt?.message?.hasPrefix(CallRules.lateAnswer) == t.late) }
        #expect(effect.result.map(\.error) == t.resultError)
        if let row = effect.row, !t.late {
            #expect(row.leaseOwner == nil && row.dispatchedAt == nil && row.attempts == 2 && row.lastClass == t.answer.classification)
        }
    }

    @Test func aRetryKeepsItsLookupAndWhoMayHaveActed() {
        let retry = CallRules.complete(Self.answer(.retrying, status: 504, classification: "transient", lookup: .probe,
                                                   acted: true), Self.inFlight).row
        #expect(retry?.lookup == .probe && retry?.maybeDoneBy == 2 && retry?.nextAttemptAt == 2_000)
        let done = CallRules.complete(Self.answer(.succeeded, lookup: .probe), Self.inFlight).row
        #expect(done?.lookup == nil, "a lookup is kept for a retry only")
    }

    /// Each case: the orphan's row, then its state after recovery at 10,000, its attempts, whether its try is
    /// recorded as abandoned, when it is due, and its result's error.
    struct OrphanCase: Sendable, CustomTestStringConvertible {
        var name: String
        var row: CallRow
        var state: CallState
        var attempts: Int
        var abandoned: Bool
        var due: Int64?
        var error: String?
        var testDescription: String { name }
    }

    static let orphanCases: [OrphanCase] = {
        let now: Int64 = 10_000, grace = now + WindowBudget.deadOwnerGraceMilliseconds
        func orphan(sent: Bool, attempts: Int = 0, idempotent: Bool = true, keyed: Bool = false,
                    cancelled: Bool = false, lastClass: String? = nil) -> CallRow {
            CallRow(id: 3, state: .inFlight, attempts: attempts, nextAttemptAt: 50, lastClass: lastClass,
                    leaseOwner: "dead", leaseExpiresAt: 30_000, dispatchedAt: sent ? 9_000 : nil,
                    idempotent: idempotent, keyed: keyed, retryAttempts: 3, runCancelled: cancelled)
        }
        return [
            OrphanCase(name: "unsent and never tried: queued", row: orphan(sent: false), state: .queued, attempts: 0,
                       abandoned: false, due: now, error: nil),
            OrphanCase(name: "unsent after a refusal: retrying", row: orphan(sent: false, lastClass: "rate_limited"),
                       state: .retrying, attempts: 0, abandoned: false, due: now, error: nil),
            OrphanCase(name: "unsent, of a cancelled run: cancelled", row: orphan(sent: false, cancelled: true),
                       state: .cancelled, attempts: 0, abandoned: false, due: now, error: RetryRules.cancelledError),
            OrphanCase(name: "sent, idempotent: retried", row: orphan(sent: true), state: .retrying, attempts: 1,
                       abandoned: true, due: now, error: nil),
            OrphanCase(name: "sent, not idempotent: uncertain", row: orphan(sent: true, idempotent: false),
                       state: .uncertain, attempts: 1, abandoned: true, due: nil, error: CallRules.uncertainAfterSending),
            OrphanCase(name: "sent, keyed: looked up after the grace", row: orphan(sent: true, idempotent: false, keyed: true),
                       state: .retrying, attempts: 1, abandoned: true, due: grace, error: nil),
            OrphanCase(name: "sent, keyed, of a cancelled run: still looked up",
                       row: orphan(sent: true, idempotent: false, keyed: true, cancelled: true),
                       state: .retrying, attempts: 1, abandoned: true, due: grace, error: nil),
            OrphanCase(name: "sent on its last attempt: dead", row: orphan(sent: true, attempts: 2), state: .dead,
                       attempts: 3, abandoned: true, due: nil, error: CallRules.deadOnLastAttempt),
            OrphanCase(name: "not idempotent on its last attempt: uncertain, never dead (retry would re-send it)",
                       row: orphan(sent: true, attempts: 2, idempotent: false), state: .uncertain, attempts: 3,
                       abandoned: true, due: nil, error: CallRules.uncertainAfterSending),
            OrphanCase(name: "keyed on its last attempt: uncertain", row: orphan(sent: true, attempts: 2, keyed: true),
                       state: .uncertain, attempts: 3, abandoned: true, due: nil, error: CallRules.keyedOnLastAttempt),
        ]
    }()

    @Test(arguments: orphanCases)
    func aDeadRunnersCall(_ t: OrphanCase) {
        let effect = CallRules.recover(t.row, now: 10_000)
        #expect(effect.row?.state == t.state)
        #expect(effect.row?.attempts == t.attempts)
        #expect(effect.row?.leaseOwner == nil)
        #expect((effect.attempt?.classification == "abandoned") == t.abandoned)
        if t.abandoned { #expect(effect.attempt?.runner == "dead" && effect.attempt?.startedAt == 9_000 && effect.row?.maybeDoneBy == t.attempts) }
        if let due = t.due { #expect(effect.row?.nextAttemptAt == due && effect.row?.dispatchedAt == nil) }
        #expect(effect.result?.error == t.error)
    }

    @Test func onlyTheClaimingRunnerReleasesAnUnsentCall() {
        var unsent = Self.inFlight
        unsent.dispatchedAt = nil
        #expect(CallRules.release(unsent, runner: "r1")?.state == .retrying)
        #expect(CallRules.release(unsent, runner: "r2") == nil)
        #expect(CallRules.release(Self.inFlight, runner: "r1") == nil, "sent: not ours to give back")
        var fresh = unsent
        fresh.attempts = 0
        fresh.lastClass = nil
        #expect(CallRules.release(fresh, runner: "r1")?.state == .queued)
    }

    @Test func anAnswerSettlesItsTrysOpenSpendsElseTheOneRecoveryClosed() {
        let c = Self.answer(.succeeded)
        let spends = [CallSpend(id: 1, call: 7, owner: "r1", at: 300, open: true),
                      CallSpend(id: 2, call: 7, owner: "r1", at: 500, open: true),
                      CallSpend(id: 3, call: 7, owner: "r1", at: 900, open: true), // a later try's
                      CallSpend(id: 4, call: 7, owner: "r2", at: 450, open: true)] // another runner's
        #expect(CallRules.settlements(c, spends).map(\.id) == [1, 2])
        #expect(CallRules.settlements(c, spends).allSatisfy { $0.at == 540 && $0.accepted })
        let closed = [CallSpend(id: 5, call: 7, owner: "r1", at: 3_000, open: false),
                      CallSpend(id: 6, call: 7, owner: "r1", at: 3_100, open: false)]
        #expect(CallRules.settlements(c, closed) == [SpendSettlement(id: 6, at: 3_100, accepted: true)])
    }

    @Test func aRetryStartsAfreshAndLooksUpAnUncertainOrder() {
        let failed = CallRow(id: 1, state: .failed, attempts: 3, nextAttemptAt: 5, lastClass: "permanent",
                             maybeDoneBy: 2, dispatchedAt: 4)
        let again = CallRules.retried(failed, now: 900)
        #expect(again.state == .queued && again.attempts == 0 && again.nextAttemptAt == 900 && again.lastClass == nil)
        #expect(again.lookup == nil && again.dispatchedAt == nil)
        var uncertain = failed
        uncertain.state = .uncertain
        #expect(CallRules.retried(uncertain, now: 900).lookup == nil, "unkeyed: nothing to look up")
        uncertain.keyed = true
        #expect(CallRules.retried(uncertain, now: 900).lookup == .probe)
    }

    @Test(arguments: [
        (CallRow(id: 1, state: .queued), true),
        (CallRow(id: 1, state: .retrying, attempts: 1), true),
        (CallRow(id: 1, state: .inFlight, leaseOwner: "r"), true),             // claimed, not sent
        (CallRow(id: 1, state: .inFlight, leaseOwner: "r", dispatchedAt: 5), false), // sent: it finishes
        (CallRow(id: 1, state: .retrying, lookup: .probe, keyed: true), false),  // a lookup to make first
        (CallRow(id: 1, state: .succeeded), false),
    ])
    func aCancelStopsWhatWaits(_ row: CallRow, _ cancelled: Bool) {
        let effect = CallRules.cancelled(row, now: 70)
        #expect((effect != nil) == cancelled)
        if cancelled {
            #expect(effect?.row?.state == .cancelled && effect?.row?.leaseOwner == nil)
            #expect(effect?.result == ResultRow(call: 1, error: RetryRules.cancelledError, finishedAt: 70))
        }
    }
}
