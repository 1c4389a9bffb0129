import Foundation
import PacerCore
import PacerEmulator
import PacerTestSupport
import Testing
@testable import PacerStorage

/// Everything at once on one SQLite file, as cron and an operator would do it: four `pacer run`, an `enqueue` of
/// 100,000 calls and `status` in a loop. Bounded: the runners stop after 14 s, the loop after 12 s.
@Suite(.serialized) struct ConcurrencyTests {
    @Test func fourRunnersAHugeEnqueueAndStatusNeverSeeALockedDatabase() async throws {
        let h = try await RunnerHarness(configured: "40/1s")
        for p in Provider.allCases { try h.enqueue(p, count: 150) }
        let items = (1...100_000).map(String.init).joined(separator: "\n")
        _ = h.dir.write("items.txt", items)
        let job = h.dir.write("big.yaml", """
            name: big
            account: bitz
            request:
              method: POST
              path: /Trade/cancelAllEntrustSheet
              params:
                ids: "{{item}}"
            items:
              file: items.txt
            """)
        let runners = try (0..<4).map { _ in
            try PacerProcess.start(["run", "--max-seconds", "14", "--db", h.dbPath],
                                   environment: RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 })
        }
        try await Task.sleep(for: .milliseconds(500))
        async let enqueued = Task.detached { try PacerProcess.run(["enqueue", "--db", h.dbPath, job], timeoutSeconds: 60) }.value
        var statuses: [PacerProcess.Result] = []
        let until = Date().addingTimeInterval(12)
        while Date() < until && statuses.count < 100 {
            statuses.append(try PacerProcess.run(["status", "--db", h.dbPath], timeoutSeconds: 30))
            try await Task.sleep(for: .milliseconds(100))
        }
        let enqueue = try await enqueued
        let stderr = try await h.wait(runners, seconds: 30)
        await h.stop()
        // Each runner ran its 14 s and stopped as asked, none gave up on the database.
        #expect(runners.allSatisfy { $0.process.terminationStatus == 0 }, "\(runners.map { $0.process.terminationStatus }) \(stderr)")

        #expect(enqueue.status == 0 && enqueue.stdout.contains("100000 calls queued"), "\(enqueue.stdout) \(enqueue.stderr)")
        // Several looks while the enqueue holds the write lock (how many depends on how loaded the machine is).
        #expect(statuses.count > 3 && statuses.allSatisfy { $0.status == 0 }, "\(statuses.map(\.stderr).filter { !$0.isEmpty })")
        let everything = stderr + statuses.map(\.stderr) + [enqueue.stderr]
        #expect(!everything.contains { $0.localizedCaseInsensitiveContains("locked") || $0.contains("SQLITE_BUSY") },
                "\(everything.filter { $0.localizedCaseInsensitiveContains("locked") })")
        // No call was claimed twice: none was performed twice at the provider, and none has more tries than attempts.
        #expect(h.emulator.stats().duplicatedCalls.isEmpty, "\(h.emulator.stats().duplicatedCalls.prefix(5))")
        let doubled = try await h.sqlite.pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM (SELECT call_id FROM attempts WHERE classification = 'ok' GROUP BY call_id HAVING COUNT(*) > 1)
                """) ?? -1
        }
        #expect(doubled == 0)
    }
}
