import Foundation
import CMallocInfo
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerStorage
import Testing

/// Memory stays flat: nothing is kept per finished call. Measured as the bytes the allocator has handed out and
/// not taken back (glibc's `mallinfo2`), not as RSS: a leak of even 1 KB per call shows as megabytes over a few thousand
/// calls, while caches (SQLite's pages, connection pools) level off after the warm-up.
@Suite(.serialized) struct MemoryTests {
    static func bytesInUse() -> Int { Int(pacer_bytes_in_use()) }

    @Test func aRunnerKeepsNothingPerFinishedCall() async throws {
        let h = try await RunnerHarness(configured: "100000000/1s")
        func queue(_ count: Int) throws {
            // The same logical call every time, so the emulator's own bookkeeping does not grow either.
            _ = try h.store.enqueue([RunToEnqueue(run: NewRun(job: "poll", account: "kookeey", jobFile: "poll.yaml",
                                                              retry: .default, createdAtMilliseconds: 0)) { emit in
                for i in 0..<count {
                    try emit(NewCall(index: i, method: .get, path: "/stock", params: #"{"g":"433"}"#, body: nil,
                                     weight: 1, idempotent: true))
                }
            }])
        }
        // Warm-up: connections, the HTTP pool, and a database larger than SQLite's page caches (2 MB each), so
        // the caches are full before measuring.
        try queue(5_000)
        _ = try await h.runInProcess { $0.concurrency = 32 }
        let before = Self.bytesInUse()
        try queue(5_000)
        _ = try await h.runInProcess { $0.concurrency = 32 }
        let after = Self.bytesInUse()
        await h.stop()
        #expect(try h.states() == [.succeeded: 10_000])
        let perCall = Double(after - before) / 5_000
        // 16 KB per call was the old leak (80 MB here); caches may still settle by a few MB (under 1 KB per call).
        #expect(perCall < 1_000, "memory grew by \(after - before) bytes over 5,000 calls (\(Int(perCall)) per call)")
    }
}
