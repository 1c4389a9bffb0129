import PacerCore
import PacerStorage
import Testing
@testable import PacerRunner

/// A worker's decisions without a store, a network or a clock: its queue's next step (`WorkerQueue`) and what a
/// try's verdict makes of its call (`CallStep`).
@Suite struct WorkerStepTests {
    static func call(_ id: Int64) -> ClaimedCall {
        ClaimedCall(id: id, run: 1, account: "a", method: .get, path: "/p", params: "{}", body: nil, weight: 1,
                    idempotent: true, attempts: 0, lastClass: nil, retry: .default, overrides: [:])
    }

    /// The queue after a claim of `calls` (more may be due unless `drained`), then a spend granting `granted`.
    static func queue(claimed calls: [Int64] = [], drained: Bool = false, granted: [Int64]? = nil,
                      lost: [Int64] = [], retryAt: Int64? = nil) -> WorkerQueue {
        var q = WorkerQueue()
        if !calls.isEmpty || drained {
            q.claimed(ClaimedBatch(calls: calls.map(call), clockOffsetMilliseconds: 0, mayHaveMore: !drained), as: "r1")
        }
        if let granted { q.spent(SpendGrant(granted: granted, retryAt: retryAt, lost: lost, at: 10), news: { _ in 0 }, probesAnswered: 0) }
        return q
    }

    struct QueueCase: Sendable, CustomTestStringConvertible {
        var name: String
        var queue: WorkerQueue
        var runnerID = "r1"
        var stopping = false
        var held = false
        var step: WorkerQueue.Step
        var testDescription: String { name }
    }

    static let queueCases: [QueueCase] = [
        QueueCase(name: "nothing held, more may be due: claim", queue: queue(), step: .claim),
        QueueCase(name: "the last claim took everything: wait for a wake", queue: queue(drained: true), step: .waitForWork),
        QueueCase(name: "claimed: spend", queue: queue(claimed: [1, 2, 3]), step: .spend),
        QueueCase(name: "spent: send", queue: queue(claimed: [1, 2, 3], granted: [1, 2], retryAt: 500), step: .sendReady),
        QueueCase(name: "sent, the rest must wait for tokens",
                  queue: { var q = queue(claimed: [1, 2, 3], granted: [1, 2], retryAt: 500); q.took(2); return q }(),
                  step: .waitForTokens(until: 500)),
        QueueCase(name: "waited: spend again",
                  queue: { var q = queue(claimed: [1, 2, 3], granted: [1, 2], retryAt: 500); q.took(2); q.waited(); return q }(),
                  step: .spend),
        QueueCase(name: "a lost lease is dropped, not sent", queue: queue(claimed: [1], granted: [], lost: [1]), step: .claim),
        QueueCase(name: "all spent and sent: claim again", queue: { var q = queue(claimed: [1], granted: [1]); q.took(1); return q }(),
                  step: .claim),
        QueueCase(name: "stopping with calls: give them back", queue: queue(claimed: [1]), stopping: true, step: .giveBack),
        QueueCase(name: "stopping with spent calls: give them back", queue: queue(claimed: [1], granted: [1]),
                  stopping: true, step: .giveBack),
        QueueCase(name: "stopping with nothing: stop", queue: queue(), stopping: true, step: .stop),
        QueueCase(name: "held (credentials refused): what it holds goes back", queue: queue(claimed: [1]), held: true,
                  step: .giveBack),
        QueueCase(name: "held with nothing: wait, claim nothing", queue: queue(), held: true, step: .waitForWork),
        QueueCase(name: "declared dead (a new runner id): recovery has them", queue: queue(claimed: [1], granted: [1]),
                  runnerID: "r2", step: .forget),
        QueueCase(name: "declared dead and stopping: still forget, never give back under the new id",
                  queue: queue(claimed: [1]), runnerID: "r2", stopping: true, step: .forget),
    ]

    @Test(arguments: queueCases)
    func theQueuesNextStep(_ t: QueueCase) {
        #expect(t.queue.next(runnerID: t.runnerID, stopping: t.stopping, held: t.held) == t.step)
    }

    /// An account with several pools: calls waiting for one pool's tokens do not idle the others. The worker
    /// looks once for due calls of other demands, spends them with the waiting ones, and waits when none are due.
    @Test func callsWaitingForOnePoolLetTheWorkerLookInOthers() {
        var q = Self.queue(claimed: [1, 2])
        q.spent(SpendGrant(granted: [], retryAt: 900, lost: [], at: 10), news: { _ in 0 }, probesAnswered: 0)
        #expect(q.next(runnerID: "r1", stopping: false) == .waitForTokens(until: 900), "one pool: wait")
        #expect(q.next(runnerID: "r1", stopping: false, pools: true) == .claimOthers(excluding: ["-"]))
        var other = Self.call(3)
        other.pools = PoolDemand(names: ["management"])
        q.claimedOthers(ClaimedBatch(calls: [other], clockOffsetMilliseconds: 0, mayHaveMore: false))
        #expect(q.pending.map(\.id) == [1, 2, 3])
        #expect(q.next(runnerID: "r1", stopping: false, pools: true) == .spend)
        q.spent(SpendGrant(granted: [3], retryAt: 900, lost: [], at: 20), news: { _ in 0 }, probesAnswered: 0)
        q.took(1)
        #expect(q.next(runnerID: "r1", stopping: false, pools: true) == .claimOthers(excluding: ["-"]),
                "after each spend, one more look")
        q.claimedOthers(ClaimedBatch(calls: [], clockOffsetMilliseconds: 0, mayHaveMore: false))
        #expect(q.next(runnerID: "r1", stopping: false, pools: true) == .waitForTokens(until: 900), "none due: wait")
    }

    @Test func grantedCallsKeepTheirOrderAndPaceNews() {
        var q = Self.queue(claimed: [5, 6, 7, 8])
        q.spent(SpendGrant(granted: [6, 5], retryAt: 900, lost: [8], at: 42, probe: true), news: { _ in 3 }, probesAnswered: 2)
        #expect(q.ready.map(\.call.id) == [5, 6], "in the order claimed")
        #expect(q.ready.allSatisfy { $0.at == 42 && $0.news == 3 && $0.probe })
        #expect(q.pending.map(\.id) == [7])
        #expect(q.tokensBackAt == 900 && q.probesAnsweredThen == 2)
        q.emptied()
        #expect(!q.holdsCalls && q.tokensBackAt == nil)
    }

    /// What the runner's claim budget counts: calls claimed or spent and about to leave, not those waiting for
    /// tokens (a long cool-down must not shrink every other account's claims).
    @Test func callsWaitingForTokensAreNotCountedAsHeld() {
        var q = Self.queue(claimed: [1, 2, 3])
        #expect(q.held == 3)
        q.spent(SpendGrant(granted: [1], retryAt: 900, lost: [], at: 10), news: { _ in 0 }, probesAnswered: 0)
        #expect(q.ready.count == 1 && q.pending.count == 2)
        #expect(q.held == 1, "the two left wait for tokens")
        q.waited()
        #expect(q.held == 3)
        q.took(1)
        #expect(q.held == 2)
        q.emptied()
        #expect(q.held == 0)
    }

    struct StepCase: Sendable, CustomTestStringConvertible {
        var name: String
        var verdict: NextStep
        var lookingUp: LookupReason? = nil
        var keyed = false
        var paused = false
        var expected: CallStep
        var testDescription: String { name }
    }

    static let now: Int64 = 1_000
    static let stepCases: [StepCase] = [
        StepCase(name: "success", verdict: .succeed, expected: CallStep(state: .succeeded)),
        StepCase(name: "a retry uses an attempt", verdict: .retry(at: 5_000, countsAsAttempt: true),
                 expected: CallStep(state: .retrying, nextAttemptAt: 5_000)),
        StepCase(name: "a rate-limit deferral does not", verdict: .retry(at: 2_000, countsAsAttempt: false),
                 expected: CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: 2_000)),
        StepCase(name: "a lookup's retry stays a lookup", verdict: .retry(at: 2_000, countsAsAttempt: true),
                 lookingUp: .probe, keyed: true,
                 expected: CallStep(state: .retrying, nextAttemptAt: 2_000, lookup: .probe)),
        StepCase(name: "re-sign at once, no attempt", verdict: .resignNow,
                 expected: CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now)),
        StepCase(name: "a probe lookup waits for the provider to settle", verdict: .lookUp(.probe), keyed: true,
                 expected: CallStep(state: .retrying, nextAttemptAt: now + LookupReason.settleMilliseconds, lookup: .probe)),
        StepCase(name: "a confirming lookup goes at once", verdict: .lookUp(.confirm), keyed: true,
                 expected: CallStep(state: .retrying, nextAttemptAt: now, lookup: .confirm)),
        StepCase(name: "nothing found: the order goes again, no lookup", verdict: .sendAgain, lookingUp: .probe, keyed: true,
                 expected: CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now)),
        StepCase(name: "a permanent failure keeps the provider's message", verdict: .fail(.failed),
                 expected: CallStep(state: .failed, error: "boom")),
        StepCase(name: "unsure, not idempotent", verdict: .fail(.uncertain),
                 expected: CallStep(state: .uncertain, error: "the request may have reached the provider and the call is not idempotent: not sent again")),
        StepCase(name: "unsure, keyed, out of tries", verdict: .fail(.uncertain), keyed: true,
                 expected: CallStep(state: .uncertain, error: "the order may have been placed by a try whose answer was lost, and its tries ran out: boom")),
        StepCase(name: "a lookup that found the order", verdict: .fail(.duplicate), lookingUp: .confirm, keyed: true,
                 expected: CallStep(state: .duplicate, error: nil)),
        StepCase(name: "duplicate key but no order found", verdict: .fail(.failed), lookingUp: .confirm, keyed: true,
                 expected: CallStep(state: .failed, error: "the provider answered duplicate key, but looking the order up by its key finds none: boom")),
        StepCase(name: "auth failure with the account paused", verdict: .failAndPause(reason: "bad key"), paused: true,
                 expected: CallStep(state: .failed, error: "bad key")),
        StepCase(name: "auth failure, the pause not written: wait in the queue", verdict: .failAndPause(reason: "bad key"),
                 expected: CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now)),
        StepCase(name: "auth failure on a lookup: the placed order waits for resumption",
                 verdict: .failAndPause(reason: "bad key"), lookingUp: .probe, keyed: true, paused: true,
                 expected: CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now, lookup: .probe)),
    ]

    @Test(arguments: stepCases)
    func aVerdictsNextState(_ t: StepCase) {
        #expect(CallStep.after(t.verdict, lookingUp: t.lookingUp, keyed: t.keyed, message: "boom", now: Self.now,
                               paused: t.paused) == t.expected)
    }
}
