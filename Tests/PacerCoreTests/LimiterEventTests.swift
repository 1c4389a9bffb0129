import PacerCore
import PacerLimits
import Testing

/// The limiter's decisions over a batch and its other events, over fixed instants (no store: the rows are given).
@Suite struct LimiterEventTests {
    let second: Int64 = 1_000

    func want(_ account: String, _ ids: [Int64], weight: Int = 1) -> SpendBatch.Want {
        SpendBatch.Want(account: account, calls: ids.map { PoolCall(id: $0, weight: weight, pools: [account]) })
    }
    /// Pools of 3 per second, one per account.
    func limits(_ names: [String], count: Int = 3) -> [String: PoolWindows] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, PoolWindows([.init(count: count, milliseconds: second)])) })
    }

    /// Several accounts in one batch, each against its own pacing and held weight; a second want of the same
    /// account sees the first one's calls as spent.
    @Test(arguments: [
        // account a holds 0 of 3, b holds 2 of 3 (spent at 9.001 s): a gets all three, b one, and b's next
        // token returns at 10.001 s.
        ([("a", [Int64(1), 2, 3]), ("b", [4, 5])], ["a": 0, "b": 2], [[Int64(1), 2, 3], [4]], [Int64?.none, 10_001]),
        // The same account twice: the second want finds the first's calls spent (they are not in the store yet,
        // and answers still on their way are looked at again soon: 50 ms).
        ([("a", [1, 2]), ("a", [3, 4])], ["a": 0], [[1, 2], [3]], [nil, 10_050]),
        // Nothing held, nothing wanted.
        ([("a", [])], ["a": 0], [[]], [nil]),
    ] as [([(String, [Int64])], [String: Int], [[Int64]], [Int64?])])
    func aBatchIsDecidedInOrder(wants: [(String, [Int64])], held: [String: Int], granted: [[Int64]],
                                retryAts: [Int64?]) {
        var logReads = 0
        let decisions = SpendBatch.decide(
            wants.map { want($0.0, $0.1) }, now: 10 * second, limits: limits(["a", "b"]),
            pacings: ["a": Pacing(configured: 3), "b": Pacing(configured: 3)], held: held.mapValues { [$0] },
            readLog: { account, since in
                logReads += 1
                #expect(since == 9 * second)
                // Everything held was spent at the window's start: it comes back at 10 s + 1 ms at the earliest.
                return Array(repeating: WindowBudget.Spend(at: 9 * second + 1, weight: 1), count: held[account] ?? 0)
            })
        #expect(decisions.map { $0.fitting.map(\.id) } == granted)
        #expect(decisions.map(\.retryAt) == retryAts)
        #expect(logReads <= wants.count)
    }

    /// A cooling account lets only its due probe go, and a later want of the same account in the batch waits for
    /// the probe instead of taking a second one.
    @Test func aProbeIsTakenOncePerBatch() {
        let cooling = Pacing(configured: 3, cooldownUntil: 5 * second, probeAt: 2 * second)
        let decisions = SpendBatch.decide([want("a", [1, 2]), want("a", [3])], now: 2 * second, limits: limits(["a"]),
                                          pacings: ["a": cooling], held: ["a": [0]], readLog: { _, _ in [] })
        #expect(decisions[0].fitting.map(\.id) == [1])
        #expect(decisions[0].probing["a"]?.probeCall == 1)
        // The rest of the pool waits for the probe's answer (which wakes the worker that sent it), or the end.
        #expect(decisions[0].retryAt == 5 * second)
        // Should the probe not go after all (its lease lost), nothing waits for it: a new one may go at once.
        #expect(decisions[0].retryAtWithoutProbe == 2 * second)
        #expect(decisions[1].fitting.isEmpty)
        #expect(decisions[1].probing.isEmpty)
        // While the probe is out, look again a tenth of a window on.
        #expect(decisions[1].retryAt == 2 * second + 100)
    }

    /// A stated limit below the configured one is taken at once; a provider with less left than we think holds the
    /// difference until its window resets.
    @Test(arguments: [
        // (limit, remaining, reset ms, held) -> (changed, hold weight, hold at)
        (Int?.some(8), Int?.none, Int64?.none, 0, true, Int?.none, Int64?.none),
        (10, nil, nil, 0, false, nil, nil), // the configured limit itself: nothing learned
        (nil, 4, 300, 2, false, 4, 10_000 + 300 - 1_000), // we think 8 are left, the provider 4
        (nil, 9, 300, 2, false, nil, nil), // the provider has more left than we think: nothing held
        (8, 1, 5_000, 0, true, 7, 10_000), // a reset beyond the window is taken as a window
    ] as [(Int?, Int?, Int64?, Int, Bool, Int?, Int64?)])
    func aQuotaSetsTheLimitAndHoldsAnotherClientsUse(limit: Int?, remaining: Int?, reset: Int64?, held: Int,
                                                     changed: Bool, holdWeight: Int?, holdAt: Int64?) {
        var pacing = Pacing(configured: 10)
        let outcome = pacing.quota(ProviderQuota(limit: limit, remaining: remaining, resetMilliseconds: reset),
                                   held: held, now: 10 * second, windowMilliseconds: second)
        #expect(outcome.changed == changed)
        #expect(outcome.hold?.weight == holdWeight)
        #expect(outcome.hold?.at == holdAt)
        if changed { #expect(pacing.reportedLimit == limit) }
    }

    /// A call outside the queue waits for a cool-down, else for the window's room.
    @Test func aReservationWaitsForTheCoolDownThenTheWindow() {
        let log = [WindowBudget.Spend(at: 500, weight: 2)]
        #expect(Pacing(configured: 2, cooldownUntil: 800).admits(weight: 1, now: 600, windowMilliseconds: second, log: log)
                == .wait(until: 800))
        #expect(Pacing(configured: 2).admits(weight: 1, now: 600, windowMilliseconds: second, log: log)
                == .wait(until: 1_500))
        #expect(Pacing(configured: 3).admits(weight: 1, now: 600, windowMilliseconds: second, log: log) == .send)
    }

    /// A refusal is weighed against every runner's settled acceptances: a window in which the provider took as
    /// much as the refused call would have made is noise (no ceiling); without such evidence, a refusal at high
    /// fill teaches its fill as the ceiling.
    @Test func aRefusalIsNoiseWhenTheProviderLatelyTookAsMuch() {
        let took = (0..<10).map { (at: Int64(8_000 + $0 * 10), weight: 1) }
        var noise = Pacing(configured: 10)
        noise.refused(now: 9_600, sentAt: 9_500, fill: 9, weight: 1, retryAfterMilliseconds: nil,
                      windowMilliseconds: second, accepted: nil, settledAccepted: took, call: 7)
        #expect(noise.ceiling == nil)
        var limit = Pacing(configured: 10)
        limit.refused(now: 9_600, sentAt: 9_500, fill: 9, weight: 1, retryAfterMilliseconds: nil,
                      windowMilliseconds: second, accepted: nil, settledAccepted: [], call: 7)
        #expect(limit.ceiling == 9)
    }
}
