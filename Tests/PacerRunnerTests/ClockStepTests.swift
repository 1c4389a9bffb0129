import Foundation
import PacerCore
import PacerEmulator
import PacerTestSupport
import Synchronization
import Testing

/// The host's wall clock steps while `pacer run` sends (NTP, a resumed VM), driven from outside with libfaketime's
/// timestamp file: the runner's process reads the stepped clock, its monotonic and boot-time clocks stay true
/// (`FAKETIME_DONT_FAKE_MONOTONIC=1`), and the emulator runs in this test process on the real clock. Part of the
/// integration suite, so that it takes its turn with the other heavy runs (its limits are timed).
extension RunnerIntegrationTests {
    /// A step forward of one window and then one back of 20 s, in one run: no window over the limit at the
    /// emulator, no refusal, and the sends never stand still for longer than about a window.
    @Test func stepsOfTheWallClockNeitherBurstNorStall() async throws {
        try #require(FileManager.default.fileExists(atPath: FakeTime.library), "install Debian's faketime")
        let h = try await RunnerHarness(configured: "40/2s")
        try h.enqueue(.kookeey, count: 240)
        let offset = h.dir.url.appendingPathComponent("faketime-offset")
        try "+0s\n".write(to: offset, atomically: true, encoding: .utf8)
        let env = RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 }
            .merging(FakeTime.following(offset.path)) { $1 }
        let runner = try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", h.dbPath], environment: env,
                                            through: FakeTime.followingTheFile)

        // Watch the emulator's accepted count on the real clock (bounded: at most 60 s of 50 ms looks).
        var lastChange = Date(), longestStill = 0.0, lastCount = 0, stepped = 0
        let started = Date()
        for _ in 0..<1_200 where runner.process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            let accepted = h.emulator.stats().account("kookeey-key")?.accepted ?? 0
            if accepted != lastCount {
                if lastCount > 0 { longestStill = max(longestStill, Date().timeIntervalSince(lastChange)) }
                lastCount = accepted
                lastChange = Date()
            }
            // The steps: one window forward once 60 calls went, then 20 s back once 120 went.
            if stepped == 0 && accepted >= 60 {
                try "+2s\n".write(to: offset, atomically: true, encoding: .utf8)
                stepped = 1
            } else if stepped == 1 && accepted >= 120 {
                try "-18s\n".write(to: offset, atomically: true, encoding: .utf8)
                stepped = 2
            }
        }
        let stderr = try await h.wait([runner], seconds: 30)[0]
        let took = Date().timeIntervalSince(started)
        await h.stop()
        #expect(runner.process.terminationStatus == 0, "\(stderr)")
        #expect(stepped == 2, "both steps were made")
        let tries = try h.attemptsByClassification()
        #expect(try h.states() == [.succeeded: 240], "tries: \(tries); \(stderr)")
        let account = try #require(h.emulator.stats().account("kookeey-key"))
        #expect(account.maxSentInWindow <= 40, "sent \(account.maxSentInWindow) in one window")
        #expect(account.rejected.isEmpty, "\(account.rejected)")
        // On the wall clock the step back stalled every send for 20 s. Here a window (2 s), and a margin for the
        // suite's other heavy runs on a 2-core machine (a heartbeat delayed past the 2.5 s fence holds sends back
        // too); `pacer-bench hostile` measures the same steps on a quiet machine (longest stall: one window).
        #expect(longestStill < 8, "the sends stood still for \(longestStill) s")
        #expect(took < 45, "240 calls at 40/2s took \(took) s")
    }
}
