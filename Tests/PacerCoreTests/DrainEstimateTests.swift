import Testing
@testable import PacerCore
@testable import PacerLimits

/// `DrainEstimate`: the limits' time for queued work, as the limiter runs it (a full bucket at the start, tokens
/// back a window plus the margin after each answer). Margin 0 and latency 0 unless a row says otherwise.
@Suite struct DrainEstimateTests {
    typealias W = DrainEstimate.Work
    static let tenPerSecond = RateLimit(count: 10, windowMilliseconds: 1_000)

    @Test(arguments: [
        // work, finish times
        ([W(calls: 10, weight: 1)], [Int64(0)]),                       // one bucket's worth leaves at once
        ([W(calls: 11, weight: 1)], [1_000]),                          // one call waits a window
        ([W(calls: 45, weight: 1)], [4_000]),
        ([W(calls: 0, weight: 1), W(calls: 5, weight: 1)], [0, 0]),    // nothing queued before
        ([W(calls: 15, weight: 1), W(calls: 30, weight: 1)], [1_000, 4_000]), // the queue goes first
        ([W(calls: 6, weight: 1), W(calls: 2, weight: 3)], [0, 1_000]), // 6 + 3 fit, the second heavy one waits
        ([W(calls: 3, weight: 4)], [1_000]),                           // two of weight 4 per window of 10
        ([W(calls: 5, weight: 10)], [4_000]),                          // a whole window each
        ([W(calls: 4, weight: 1), W(calls: 0, weight: 1)], [0, 0]),   // an empty run ends with the one before
    ])
    func finishTimes(work: [W], expected: [Int64]) {
        #expect(DrainEstimate.finishTimes(work, limit: Self.tenPerSecond, marginMilliseconds: 0) == expected)
    }

    @Test func theMarginAndTheAnswersLatencyLengthenEveryWindowAfterTheFirst() {
        // 45 calls: the last window's calls leave 4 cycles in, each a window + 5 ms margin + 20 ms answer.
        #expect(DrainEstimate.finishTimes([W(calls: 45, weight: 1)], limit: Self.tenPerSecond,
                                          latencyMilliseconds: 20) == [4 * 1_025 + 20])
    }

    @Test func kuCoinsPoolTakesFourThousandAWindow() {
        let pool = RateLimit(count: 4_000, windowMilliseconds: 30_000)
        // 5,000 cancels of weight 1: 4,000 at once, the rest a window (30 s + 100 ms margin) later.
        #expect(DrainEstimate.finishTimes([W(calls: 5_000, weight: 1)], limit: pool) == [30_100])
    }
}
