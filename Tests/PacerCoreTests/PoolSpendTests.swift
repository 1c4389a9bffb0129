import PacerCore
import PacerLimits
import Testing

/// The spend decision over pools (docs/pools.md), at fixed instants: all or nothing across a call's pools and
/// windows, first come first served per pool, and a shared pool across accounts.
@Suite struct PoolSpendTests {
    let second: Int64 = 1_000

    func windows(_ pairs: [(Int, Int64)]) -> PoolWindows { PoolWindows(pairs.map { .init(count: $0.0, milliseconds: $0.1) }) }
    func call(_ id: Int64, _ pools: [String], weight: Int = 1) -> PoolCall { PoolCall(id: id, weight: weight, pools: pools) }

    /// Decides at 10 s with everything held spent at 9.5 s (it comes back at 10.5 s).
    func decide(_ wants: [SpendBatch.Want], limits: [String: PoolWindows], held: [String: [Int]]) -> [SpendBatch.Decision] {
        SpendBatch.decide(wants, now: 10 * second, limits: limits,
                          pacings: limits.mapValues { Pacing(configured: $0.configured) }, held: held,
                          readLog: { pool, _ in
                              let weight = held[pool]?.max() ?? 0
                              return weight == 0 ? [] : [WindowBudget.Spend(at: 9 * second + 500, weight: weight)]
                          })
    }

    @Test func aCallGoesOnlyWhenEveryPoolHasRoom() {
        // `spot` is full, `ip` has room: the call drawing from both waits, and takes nothing from `ip`, which the
        // next call (drawing from `ip` alone) then has in full.
        let limits = ["a/spot": windows([(2, second)]), "@ip": windows([(1, second)])]
        let d = decide([SpendBatch.Want(account: "a", calls: [call(1, ["a/spot", "@ip"]), call(2, ["@ip"])])],
                       limits: limits, held: ["a/spot": [2], "@ip": [0]])
        #expect(d[0].fitting.map(\.id) == [2])
        #expect(d[0].retryAt == 10 * second + 500)
    }

    @Test func aWaitingCallHoldsBackItsPoolOnly() {
        // The heavy call 1 (weight 3) does not fit `spot` (2 of 4 held): the light call 2 of `spot` waits behind
        // it (first come, first served: it is not overtaken forever), while call 3 of `management` goes.
        let limits = ["a/spot": windows([(4, second)]), "a/management": windows([(4, second)])]
        let d = decide([SpendBatch.Want(account: "a", calls: [call(1, ["a/spot"], weight: 3), call(2, ["a/spot"]),
                                                              call(3, ["a/management"])])],
                       limits: limits, held: ["a/spot": [2], "a/management": [0]])
        #expect(d[0].fitting.map(\.id) == [3])
    }

    @Test(arguments: [
        // (held in 1 s, held in 20 s, fits, retry at)
        (0, 99, true, Int64?.none),
        (10, 50, false, 10_500), // the second's window is full
        (3, 100, false, 29_500), // the twenty seconds' window is full: its spends come back 20 s on
    ])
    func everyWindowOfAPoolHolds(inSecond: Int, inTwenty: Int, fits: Bool, retryAt: Int64?) {
        let limits = ["a": windows([(10, second), (100, 20 * second)])]
        let d = decide([SpendBatch.Want(account: "a", calls: [call(1, ["a"])])], limits: limits,
                       held: ["a": [inSecond, inTwenty]])
        #expect(d[0].fitting.map(\.id) == (fits ? [1] : []))
        #expect(d[0].retryAt == retryAt)
    }

    @Test func aSharedPoolIsSharedAcrossAccounts() {
        // Five accounts of 10/1s each share 3/1s: the first three calls in the batch get it, whoever makes them.
        let limits = Dictionary(uniqueKeysWithValues: (1...5).map { ("a\($0)", windows([(10, second)])) })
            .merging(["@shared": windows([(3, second)])]) { a, _ in a }
        let wants = (1...5).map { i in
            SpendBatch.Want(account: "a\(i)", calls: [call(Int64(i), ["a\(i)", "@shared"])])
        }
        let d = decide(wants, limits: limits, held: limits.mapValues { _ in [0] })
        #expect(d.map { $0.fitting.map(\.id) } == [[1], [2], [3], [], []])
    }

    @Test func aCoolingPoolStopsOnlyItsCalls() {
        // `spot` cools down until 12 s after a refusal: its call waits for that, `management`'s goes.
        var pacings = ["a/spot": Pacing(configured: 4), "a/management": Pacing(configured: 4)]
        pacings["a/spot"]!.cooldownUntil = 12 * second
        let limits = ["a/spot": windows([(4, second)]), "a/management": windows([(4, second)])]
        let d = SpendBatch.decide([SpendBatch.Want(account: "a", calls: [call(1, ["a/spot"]), call(2, ["a/management"])])],
                                  now: 10 * second, limits: limits, pacings: pacings,
                                  held: ["a/spot": [0], "a/management": [0]], readLog: { _, _ in [] })
        #expect(d[0].fitting.map(\.id) == [2])
        #expect(d[0].retryAt == 12 * second)
    }
}
