import Foundation
import PacerCore
import PacerEmulator
@testable import PacerPostgres
import PacerProviders
import PacerRunner
import PacerStorage
import PacerTestSupport
import Synchronization
import Testing

/// `pacer run` on PostgreSQL (the throwaway server of `scripts/with-postgres.sh`) against the emulator on
/// 127.0.0.1: several runners as if on several machines, whose clocks disagree, sharing one limit per account.
/// (The SIGKILL recovery test runs on both stores in `RunnerIntegrationTests`.)
/// An extension of the integration suite, so that these runs take their turn with its others (one heavy run at a
/// time) rather than competing with them for the machine's cores.
extension RunnerIntegrationTests {
    /// Debian's `faketime` (libfaketime) shifts a process's wall clock, not its monotonic clock, by `offset`, as a
    /// machine whose clock is off would have it.
    static func skewed(_ offset: String) -> [String] { ["/usr/bin/faketime", "-f", offset] }
    static let faketimeEnvironment = ["FAKETIME_DONT_FAKE_MONOTONIC": "1"]

    static func runnerCount(_ h: RunnerHarness) throws -> Int {
        try (h.store as! PostgresStore).read { tx in
            try tx.value("SELECT COUNT(DISTINCT runner) FROM attempts WHERE classification != 'abandoned'", as: Int.self) ?? 0
        }
    }

    /// The skew is real: a process started through `faketime -f +2s` reads a clock 2 s ahead.
    @Test func faketimeSkewsTheWallClock() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/faketime")
        process.arguments = ["-f", "+2s", "/bin/date", "+%s%3N"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        process.waitUntilExit()
        let theirs = Int64(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let ours = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(theirs - ours - 2_000) < 500, "faketime +2s gave \(theirs - ours) ms (install Debian's faketime)")
    }

    /// Three runners, two of them with clocks 2 s ahead and 1.5 s behind, drain a mixed workload on all four
    /// providers with faults on: every call once, no window over the limit at the emulator, no order twice.
    @Test func threeRunnersWithSkewedClocksShareOneLimit() async throws {
        var faults = FaultSettings()
        faults.seed = 7
        faults.rateLimit = 0.02
        faults.serverError = 0.03
        faults.unavailable = 0.03
        faults.drop = 0.02
        faults.lostResponse = 0.02
        faults.slow = 0.05
        faults.slowMilliseconds = 30
        let h = try await RunnerHarness(configured: "20/1s", faults: faults, database: .postgres)
        for p in Provider.allCases { try h.enqueueReads(p, count: 40) }
        try h.enqueue(.kookeey, count: 20, idempotent: false, job: "kookeey-orders")
        try h.enqueue(.kucoin, count: 20, idempotent: false, job: "kucoin-orders")
        let env = RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 }
            .merging(Self.faketimeEnvironment) { $1 }
        let processes = try [[], Self.skewed("+2s"), Self.skewed("-1.5s")].map { wrapper in
            try PacerProcess.start(["run", "--drain", "--max-seconds", "90", "--db", h.dbPath], environment: env,
                                   through: wrapper)
        }
        let stderr = try await h.wait(processes, seconds: 120)
        await h.stop()
        for (p, err) in zip(processes, stderr) { #expect(p.process.terminationStatus == 0, "stderr: \(err)") }

        var byJob: [String: [CallState: Int]] = [:]
        try h.store.results(run: nil) { byJob[$0.job, default: [:]][$0.state, default: 0] += 1 }
        for job in ["kookeey-job", "kucoin-reads", "bitunix-job", "bitz-job"] {
            #expect(byJob[job] == [.succeeded: 40], "\(job): \(byJob[job] ?? [:])")
        }
        for job in ["kookeey-orders", "kucoin-orders"] {
            let states = byJob[job] ?? [:]
            #expect(Set(states.keys).isSubset(of: [.succeeded, .uncertain]) && states.values.reduce(0, +) == 20,
                    "\(job): \(states)")
        }
        let stats = h.emulator.stats()
        let orders = stats.calls.filter { $0.key.contains("/order") || $0.key.contains("POST /api/v1/orders") }
        #expect(orders.values.allSatisfy { $0 == 1 }, "an order was performed twice: \(orders.filter { $0.value > 1 })")
        for account in stats.accounts {
            #expect(account.maxSentInWindow <= 20, "\(account.key) sent \(account.maxSentInWindow) in one window")
            #expect(account.rejected["rate_limited"] == nil, "\(account.key): \(account.rejected)")
        }
        let runners = try (h.store as! PostgresStore).read { tx in
            try tx.rows("SELECT runner, COUNT(*) AS n FROM attempts GROUP BY runner").map { "\(try $0.get("runner", as: String.self)): \(try $0.get("n", as: Int.self))" }
        }
        #expect(try Self.runnerCount(h) == 3, "all three runners took part: \(runners)")
    }

    /// The database goes silent 4 s into a run (a proxy that stops forwarding without closing anything, as a
    /// network partition does): the runner stops sending, ends by itself soon after --max-seconds with a clear
    /// message and a non-zero status, and leaves its calls to recovery. A new `pacer run --drain` on a working
    /// connection then finishes every call: no order twice, no window over the limit.
    @Test func aSilentDatabaseEndsTheRunnerAndLosesNothing() async throws {
        let h = try await RunnerHarness(configured: "20/1s", database: .postgres)
        try h.enqueueReads(.kucoin, count: 150)
        try h.enqueue(.kucoin, count: 60, idempotent: false, job: "kucoin-orders")
        let direct = try #require(URLComponents(string: h.dbPath))
        let proxy = try SilentProxy(to: try #require(direct.port))
        var proxied = direct
        proxied.port = proxy.port
        let env = RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 }
        let started = Date()
        let runner = try PacerProcess.start(["run", "--drain", "--max-seconds", "8", "--db", proxied.string!], environment: env)
        try await Task.sleep(for: .seconds(4))
        proxy.silence()
        let stderr = try await h.wait([runner], seconds: 40)[0]
        let took = Date().timeIntervalSince(started)
        proxy.stop()
        #expect(took < 8 + 10 + 8, "the partitioned runner ended \(took) s after it started (--max-seconds 8, a 10 s grace)")
        #expect(runner.process.terminationStatus != 0, "\(stderr)")
        #expect(stderr.contains("did not answer"), "\(stderr)")
        // The partition heals: a runner on a working connection finishes the work.
        let drained = try await h.wait([try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", h.dbPath],
                                                                environment: env)], seconds: 90)
        await h.stop()
        try h.expectKucoinReadsAndOrdersDone(reads: 150, orders: 60, "\(drained)")
    }

    /// The server restarts mid-run (`pg_ctl restart`: every session ended, the server back a second or two
    /// later): the runner connects again and goes on by itself; nothing lost, no order twice, no window over.
    @Test func aServerRestartIsRiddenOut() async throws {
        let server = try PrivatePostgres()
        let h = try await RunnerHarness(configured: "20/1s", on: server)
        try h.enqueueReads(.kucoin, count: 150)
        try h.enqueue(.kucoin, count: 60, idempotent: false, job: "kucoin-orders")
        let env = RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 }
        let runner = try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", h.dbPath], environment: env)
        try await Task.sleep(for: .seconds(3))
        let before = h.emulator.stats().account("kucoin-key")?.accepted ?? 0
        try server.restart()
        let stderr = try await h.wait([runner], seconds: 70)[0]
        await h.stop()
        #expect(before > 0 && before < 150, "the restart came mid-run (\(before) calls sent before it)")
        #expect(runner.process.terminationStatus == 0, "\(stderr)")
        try h.expectKucoinReadsAndOrdersDone(reads: 150, orders: 60, stderr)
        for account in h.emulator.stats().accounts {
            #expect(account.maxSentInWindow <= 20, "\(account.key) sent \(account.maxSentInWindow) in one window")
        }
    }

    /// A schedule tick whose store call never returns (the database went silent mid-tick) does not hold the
    /// runner past `--max-seconds` and the 10 s grace: the tick is a store call like the others, given up on.
    @Test func aTickOnASilentDatabaseIsGivenUpOn() async throws {
        let h = try await RunnerHarness(database: .postgres)
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        var options = RunnerOptions()
        options.drain = false
        options.maxSeconds = 2
        let transport = HTTPTransport(timeoutSeconds: 5)
        let runner = Runner(store: h.store, transport: transport, options: options) { _ in
            _ = release.wait(timeout: .now() + 60) // a reply that does not come
        }
        let started = Date()
        let done = ManualFlag()
        let finished = Task {
            _ = try? await runner.run()
            done.set()
        }
        for _ in 0..<600 where Date().timeIntervalSince(started) < 30 && !done.isSet {
            try await Task.sleep(for: .milliseconds(50))
        }
        let took = Date().timeIntervalSince(started)
        release.signal()
        await finished.value
        try await transport.shutdown()
        await h.stop()
        #expect(took < 2 + 10 + 6, "the runner ended \(took) s after it started (--max-seconds 2, a 10 s grace)")
    }

    /// An idle runner on PostgreSQL learns of new work from NOTIFY, not from polling: with the backstop look set
    /// to a minute, calls enqueued (by another process, in effect) while it idles are still done within seconds.
    @Test func anIdleRunnerIsWokenByNotify() async throws {
        let h = try await RunnerHarness(configured: "50/1s", database: .postgres)
        let enqueuedAt = Mutex<Date?>(nil)
        async let summary = h.runInProcess {
            $0.drain = false
            $0.maxSeconds = 12
            $0.notifiedBackstopMilliseconds = 60_000
            $0.idleBackstopMilliseconds = 60_000
        }
        let other = try PostgresStore(url: h.dbPath)
        // The runner listens once a worker is idle (every account's first claim, made together, found nothing), so
        // the quick finish below is NOTIFY's doing, not a poll's. Waited for as a condition (at most 10 s).
        var listening = 0
        for _ in 0..<200 where listening == 0 {
            listening = try other.read { tx in
                try tx.value("""
                    SELECT COUNT(*) FROM pg_stat_activity WHERE query = 'LISTEN pacer_work' AND datname = current_database()
                    """, as: Int.self) ?? 0
            }
            if listening == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(listening == 1)
        enqueuedAt.withLock { $0 = Date() }
        _ = try other.enqueue([RunToEnqueue(run: NewRun(job: "late", account: "kookeey", jobFile: "late.yaml",
                                                        retry: .default, createdAtMilliseconds: 0)) { emit in
            for i in 0..<5 {
                try emit(NewCall(index: i, method: .get, path: "/stock", params: #"{"g":"\#(i)"}"#, body: nil,
                                 weight: 1, idempotent: true))
            }
        }])
        var doneAfter: Double?
        for _ in 0..<200 where doneAfter == nil { // at most 10 s
            if try h.states() == [.succeeded: 5] { doneAfter = Date().timeIntervalSince(enqueuedAt.withLock { $0 }!) }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = try await summary
        await h.stop()
        #expect(doneAfter != nil && doneAfter! < 5, "done \(doneAfter.map { "\($0) s" } ?? "never") after enqueue")
    }
}
