import Foundation
import PacerCore
import PacerPostgres
import PacerQueue
import PacerStorage

/// Pacer on PostgreSQL, with SQLite's figures from the same run beside them (`scripts/with-postgres.sh` starts a
/// throwaway server; or set `PACER_BENCH_POSTGRES` to a server of yours):
/// - `pacer enqueue` of `calls` calls (1,000,000 by default) from a text items file, on each store;
/// - utilization and violations with 1 and 3 `pacer run` processes on PostgreSQL;
/// - pipeline throughput (one unlimited account) on each store, next to the bare client;
/// - many accounts on each store, on loopback and across a network hop (`FleetBenchmark`).
/// `parts` picks among enqueue, utilization, pipeline, fleet, latency and many.
struct PostgresBenchmark {
    let calls: Int
    var parts: Set<String> = ["enqueue", "utilization", "pipeline", "fleet", "latency", "many"]
    let runner = RunnerBenchmark()

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let server = env["PACER_BENCH_POSTGRES"] ?? env["PACER_TEST_POSTGRES"] else {
            throw BenchError("set PACER_BENCH_POSTGRES=postgres://USER@HOST:PORT/DB, or run through scripts/with-postgres.sh")
        }
        guard FileManager.default.isExecutableFile(atPath: runner.pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("postgres benchmark (server \(try PostgresLocation(url: server).display); emulator and runners on 127.0.0.1)")
        if parts.contains("enqueue") {
            let sqliteEnqueue = try enqueue(.sqlite)
            let postgresEnqueue = try enqueue(.postgres(server: server))
            print(String(format: "  enqueue %d calls: SQLite %.2f s, PostgreSQL %.2f s (target <= 20 s)",
                         calls, sqliteEnqueue, postgresEnqueue))
        }
        if parts.contains("utilization") {
            for processes in [1, 3] {
                try await runner.utilization(processes: processes, database: .postgres(server: server), label: " on PostgreSQL")
            }
        }
        if parts.contains("pipeline") {
            try await runner.throughput(database: .sqlite, label: " on SQLite", calls: 10_000)
            try await runner.throughput(database: .postgres(server: server), label: " on PostgreSQL", calls: 10_000)
        }
        try await FleetBenchmark(server: server).run(parts: parts)
    }

    /// Seconds `Enqueuer` takes for `calls` calls of one job over a text items file.
    func enqueue(_ database: RunnerBenchmark.Database) throws -> Double {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pacer-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try EnqueueBenchmark(calls: calls).writeJob(in: dir)
        let (store, _) = try RunnerBenchmark.open(database, dir: dir)
        try store.addAccount(Account(name: "bench", provider: .kucoin, baseURL: "http://127.0.0.1:9",
                                     limit: RateLimit(count: 4000, windowMilliseconds: 30_000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S", passphraseEnv: "P")),
                             replace: false, nowMilliseconds: 0)
        let start = Date()
        let runs = try Enqueuer(store: store, nowMilliseconds: { 0 }).enqueue(files: [job.path])
        let seconds = Date().timeIntervalSince(start)
        guard runs.first?.calls == calls else { throw BenchError("enqueued \(runs.first?.calls ?? 0) calls, expected \(calls)") }
        return seconds
    }
}
