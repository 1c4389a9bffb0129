import Testing
@testable import PacerEmulator

@Suite struct SlidingWindowLogTests {
    @Test func admitsAtMostLimitInAnyWindow() {
        var log = SlidingWindowLog(limit: 3, windowMilliseconds: 1_000)
        // (time, admitted?)
        let script: [(Int64, Bool)] = [(0, true), (100, true), (200, true), (300, false), (999, false),
                                       (1_000, true), (1_050, false), (1_100, true), (1_200, true), (1_201, false),
                                       (2_099, true), (2_100, true), (2_101, false)]
        for (t, expected) in script {
            #expect(log.admit(now: t) == expected, "at \(t)")
        }
    }

    @Test func resetIsTimeUntilTheOldestLeaves() {
        var log = SlidingWindowLog(limit: 2, windowMilliseconds: 1_000)
        #expect(log.admit(now: 0) && log.admit(now: 400))
        #expect(log.resetMilliseconds(now: 500) == 500)
        #expect(log.resetMilliseconds(now: 1_000) == 0)
    }

    @Test func aTokenBucketBurstAcrossTheBoundaryIsRefused() {
        // N at the end of one window and N at the start of the next would be 2N within one W: refused.
        var log = SlidingWindowLog(limit: 10, windowMilliseconds: 1_000)
        let late = (0..<10).filter { _ in log.admit(now: 990) }.count
        let early = (0..<10).filter { _ in log.admit(now: 1_010) }.count
        #expect(late == 10)
        #expect(early == 0)
    }
}
