import PacerStorage
import Testing
@testable import PacerRunner

/// How much a runner claims at once (`ClaimBudget`): what it can send in the horizon, shared over the accounts
/// that ask, each keeping at least one call.
@Suite struct ClaimBudgetTests {
    static func asks(_ counts: [Int]) -> [ClaimRequest] {
        counts.enumerated().map { ClaimRequest(account: "a\($0.offset)", max: $0.element) }
    }

    @Test(arguments: [
        // asked, room, granted
        ([10, 10], 100, [10, 10]),         // room for all: untouched
        ([10, 10], 20, [10, 10]),          // exactly room
        ([10, 10], 19, [9, 9]),            // one short: both trimmed (rounded down)
        ([10, 10], 10, [5, 5]),            // halved, in proportion
        ([30, 10], 20, [15, 5]),
        ([4, 4, 4, 4], 0, [1, 1, 1, 1]),   // no room: one each, so that no account waits on others' backlog
        ([4, 4, 4, 4], -50, [1, 1, 1, 1]), // over the limit already
        ([4, 1], 2, [1, 1]),
    ])
    func aCommitIsTrimmedToTheRoomLeft(asked: [Int], room: Int, granted: [Int]) {
        let trimmed = ClaimBudget.trim(Self.asks(asked), room: room)
        #expect(trimmed.map(\.max) == granted)
        #expect(trimmed.map(\.account) == Self.asks(asked).map(\.account))
    }

    @Test(arguments: [
        // concurrency, answer time, limit
        (64, 200.0, 1_600),  // a provider far away: 320 calls a second, five seconds of them
        (64, 50.0, 6_400),
        (64, 5.0, 64_000),   // fast answers: no claim is trimmed in practice
        (16, 0.0, 80_000),   // an answer time below a millisecond counts as one
    ])
    func theLimitIsFiveSecondsOfSends(concurrency: Int, latency: Double, limit: Int) {
        #expect(ClaimBudget.limit(concurrency: concurrency, horizonMilliseconds: 5_000, latencyMilliseconds: latency) == limit)
    }

    /// The limit follows the answers: before the first, a provider far away is assumed; then the recent answer
    /// time counts, and the calls the workers hold come off the room.
    @Test func theLimitFollowsTheAnswersAndTheCallsHeld() {
        let budget = ClaimBudget(concurrency: 64, horizonMilliseconds: 2_000)
        #expect(budget.limit == 640)
        budget.noteAnswer(milliseconds: 10)
        #expect(budget.limit == 12_800)
        budget.noteAnswer(milliseconds: 200)
        #expect(budget.limit == 4_413, "an average: 10 x 0.9 + 200 x 0.1 = 29 ms, not the last answer alone")
        for _ in 0..<100 { budget.noteAnswer(milliseconds: 200) }
        #expect(budget.limit == 640)
        budget.add(600)
        let trimmed = budget.trim(Self.asks(Array(repeating: 10, count: 50)))
        #expect(trimmed.allSatisfy { $0.max == 1 })
        budget.add(-600)
        #expect(budget.holding == 0)
        #expect(budget.trim(Self.asks([10, 10])).map(\.max) == [10, 10])
    }
}
