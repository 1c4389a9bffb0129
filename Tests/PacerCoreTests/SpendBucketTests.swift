import PacerCore
import Testing
import PacerLimits

/// The spend decision both stores share, over fixed instants: which calls go now, and when to look again.
@Suite struct SpendBucketTests {
    /// A bucket of 3 per 1000 ms at `now`, after sends of weight 1 at `sends` (settled unless marked open).
    func bucket(_ sends: [(at: Int64, open: Bool)], now: Int64) -> (SpendBucket, [WindowBudget.Spend]) {
        let budget = WindowBudget(capacity: 3, windowMilliseconds: 1_000)
        let log = sends.map { WindowBudget.Spend(at: $0.at, weight: 1, open: $0.open) }
        return (SpendBucket(budget: budget, cooldownUntil: nil, held: 3 - budget.tokens(now: now, log: log)), log)
    }

    @Test(arguments: [
        // Room for all: all go, and the log is never read.
        ([(Int64(-10), false), (-5, false), (0, false)], [Int64(1), 2, 3], Int64?.none, false),
        // One token back (the send at 0), the next at 1005: the first goes, look again then.
        ([(0, false), (5, false), (10, false)], [1], 1_005, true),
        // No room: none go; the oldest settled send's return is the instant to look again.
        ([(100, false), (105, false), (110, false)], [], 1_100, true),
        // Only answers still on their way stand in the way: look again soon (their instant is unknown).
        ([(0, false), (5, true), (10, true)], [1], 1_000 + WindowBudget(capacity: 3, windowMilliseconds: 1_000).openRecheckMilliseconds, true),
    ] as [([(Int64, Bool)], [Int64], Int64?, Bool)])
    func callsGoInOrderWhileTheyFit(sends: [(Int64, Bool)], granted: [Int64], retryAt: Int64?, readsLog: Bool) {
        var (spend, log) = bucket(sends.map { (at: $0.0, open: $0.1) }, now: 1_000)
        var reads = 0, fitting: [Int64] = [], at: Int64?
        for id: Int64 in [1, 2, 3] {
            if let until = spend.wait(for: 1, now: 1_000, readLog: { reads += 1; return log }) { at = until; break }
            spend.spent(weight: 1, at: 1_000)
            fitting.append(id)
        }
        #expect(fitting == granted)
        #expect(at == retryAt)
        #expect(reads == (readsLog ? 1 : 0))
    }

    @Test func aHeavyCallWaitsWithoutHoldingBackTheOnesBeforeIt() {
        // Two tokens free at 1002; the third call weighs a whole bucket, which needs the two just spent back.
        var (spend, log) = bucket([(0, false), (1, false), (5, false)], now: 1_002)
        for _ in 0..<2 {
            #expect(spend.wait(for: 1, now: 1_002, readLog: { log }) == nil)
            spend.spent(weight: 1, at: 1_002)
        }
        let at = spend.wait(for: 3, now: 1_002, readLog: { log })
        #expect(at == 1_002 + WindowBudget(capacity: 3, windowMilliseconds: 1_000).openRecheckMilliseconds)
        // What was granted is now held: nothing more fits.
        #expect(spend.held == 3)
    }

    /// While cooling down nothing leaves but the cool-down's probe: the first call alone, once it is due.
    @Test func aCoolDownLetsOnlyItsProbeGo() {
        let budget = WindowBudget(capacity: 3, windowMilliseconds: 1_000)
        let calls: Int64 = 1
        let open = SpendBucket(budget: budget, cooldownUntil: nil, held: 0)
        #expect(open.coolDownGate(calls, pacing: Pacing(configured: 3), now: 0) == nil)
        let cooling = SpendBucket(budget: budget, cooldownUntil: 1_000, held: 0)
        let noProbe = Pacing(configured: 3, cooldownUntil: 1_000)
        guard case .wait(1_000)? = cooling.coolDownGate(calls, pacing: noProbe, now: 50) else {
            Issue.record("no probe: wait for the cool-down's end"); return
        }
        let probed = Pacing(configured: 3, cooldownUntil: 1_000, probeAt: 100)
        guard case .wait(100)? = cooling.coolDownGate(calls, pacing: probed, now: 50) else {
            Issue.record("probe not due: wait for it"); return
        }
        guard case .probe(let pacing)? = cooling.coolDownGate(calls, pacing: probed, now: 100) else {
            Issue.record("probe due: the call goes"); return
        }
        #expect(pacing.probeCall == 1)
        guard case .wait(200)? = cooling.coolDownGate(calls, pacing: pacing, now: 100) else {
            Issue.record("probe out: look again a tenth of a window on"); return
        }
    }
}
