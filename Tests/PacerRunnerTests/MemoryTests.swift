import Foundation
import CMallocInfo
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerStore
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
        try queue(1_000) // warm-up: connections, caches, the HTTP pool
        _ = try await h.runInProcess { $0.concurrency = 32 }
        let before = Self.bytesInUse()
        try queue(4_000)
        _ = try await h.runInProcess { $0.concurrency = 32 }
        let after = Self.bytesInUse()
        await h.stop()
        #expect(try h.states() == [.succeeded: 5_000])
        let perCall = Double(after - before) / 4_000
        // 16 KB per call was the old leak (64 MB here); allow caches to settle by a few MB (under 1 KB per call).
        #expect(perCall < 1_000, "memory grew by \(after - before) bytes over 4,000 calls (\(Int(perCall)) per call)")
    }
}
