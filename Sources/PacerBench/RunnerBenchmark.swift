import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerJobs
import PacerProviders
import PacerRunner
import PacerPostgres
import PacerQueue
import PacerStorage
import PacerSQLite

/// The runner against the in-process emulator on 127.0.0.1, all figures from one run:
/// - utilization (achieved rate / N/W) and violations for 1 and 3 `pacer run` processes;
/// - makespan / ideal for 1,000 calls over 5 accounts at 10/1s;
/// - pipeline throughput with unlimited accounts next to the emulator's raw capacity from a bare load client;
/// - `pacer run --drain` on an empty queue;
/// - the slow path: violations and utilization with 30% of requests reaching the provider 1.2 s late;
/// - the cost of the durable dispatch mark (a spend's fsync) next to an ordinary write transaction.
struct RunnerBenchmark {
    let pacer = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pacer")

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("runner benchmark (emulator and runners on 127.0.0.1)")
        for processes in [1, 3] { try await utilization(processes: processes) }
        try await makespan()
        try await throughput()
        try emptyDrain()
        try await slowPath()
        try await durableMarkCost()
        try await planAccuracy()
    }

    /// Runs only the guarantee figures (`pacer-bench guarantees`).
    func guarantees() async throws {
        guard FileManager.default.isExecutableFile(atPath: pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("guarantee figures (emulator and runners on 127.0.0.1)")
        try await slowPath()
        try await durableMarkCost()
    }

    // MARK: Setup

    struct Setup {
        let dir: URL
        let emulator: Emulator
        let running: RunningEmulator
        let store: any PacerStore
        /// What `pacer --db` is given: the SQLite file, or the PostgreSQL database's URL.
        let db: String
        var sqlite: SQLiteStore { store as! SQLiteStore }
    }

    /// Where a setup keeps its state: a new SQLite file, or a new database on the PostgreSQL server at this URL.
    enum Database {
        case sqlite
        case postgres(server: String)
    }

    /// `accounts` accounts cycling over the providers, each with `limit`, a secret in `PACER_BENCH_SECRET_i`.
    /// - Parameters:
    ///   - limitOf: account i's configured limit, when they differ (default: `limit` for all).
    ///   - enforcedOf: the limit the emulator enforces on account i (default: its configured one).
    ///   - providerOf: account i's provider (default: cycling over the four).
    func setup(accounts: Int, limit: String, faults: FaultSettings = .init(), limitOf: ((Int) -> String)? = nil,
               enforcedOf: ((Int) -> String)? = nil, providerOf: ((Int) -> Provider)? = nil,
               database: Database = .sqlite) async throws -> Setup {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pacer-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let providers = (0..<accounts).map { providerOf?($0) ?? Provider.allCases[$0 % 4] }
        let limits = (0..<accounts).map { limitOf?($0) ?? limit }
        let emulator = try Emulator(config: EmulatorConfig(accounts: providers.enumerated().map { i, p in
            .init(provider: p, key: "key\(i)", secret: "secret\(i)", passphrase: p == .kucoin ? "pass" : nil,
                  limit: enforcedOf?(i) ?? limits[i])
        }, faults: faults))
        let running = try await emulator.start()
        let (store, db) = try Self.open(database, dir: dir)
        setenv("PACER_BENCH_PASSPHRASE", "pass", 1)
        for (i, p) in providers.enumerated() {
            setenv("PACER_BENCH_SECRET_\(i)", "secret\(i)", 1)
            try store.addAccount(Account(name: "acct\(i)", provider: p, baseURL: running.baseURL(p),
                                         limit: RateLimit(parsing: limits[i])!,
                                         credentials: CredentialReferences(key: "key\(i)", secretEnv: "PACER_BENCH_SECRET_\(i)",
                                                                           passphraseEnv: p == .kucoin ? "PACER_BENCH_PASSPHRASE" : nil)),
                                 replace: false, nowMilliseconds: 0)
            _ = try store.enqueue([RunToEnqueue(run: NewRun(job: "bench\(i)", account: "acct\(i)", jobFile: "-",
                                                            retry: .default, createdAtMilliseconds: 0)) { _ in }])
        }
        return Setup(dir: dir, emulator: emulator, running: running, store: store, db: db)
    }

    /// A new, empty store of the kind asked for, and what `--db` names it by.
    static func open(_ database: Database, dir: URL) throws -> (any PacerStore, String) {
        switch database {
        case .sqlite:
            let path = dir.appendingPathComponent("pacer.sqlite").path
            return (try SQLiteStore(path: path), path)
        case .postgres(let server):
            var location = try PostgresLocation(url: server)
            location.database = "pacer_bench_" + UUID().uuidString.prefix(8).lowercased()
            try PostgresStore.createDatabase(location.database, on: try PostgresLocation(url: server))
            return (try PostgresStore(location: location), location.url)
        }
    }

    /// Idempotent calls the emulator counts: Kookeey renew, KuCoin cancel, Bitunix and Bit-Z batch cancels.
    func enqueue(_ s: Setup, account i: Int, count: Int, provider: Provider? = nil, retry: RetryPolicy = .default) throws {
        let provider = provider ?? Provider.allCases[i % 4]
        _ = try s.store.enqueue([RunToEnqueue(run: NewRun(job: "bench\(i)", account: "acct\(i)", jobFile: "-",
                                                          retry: retry, createdAtMilliseconds: 0)) { emit in
            for n in 0..<count {
                let id = "a\(i)-\(n)"
                switch provider {
                case .kookeey:
                    try emit(NewCall(index: n, method: .get, path: "/renew", params: #"{"line":"\#(id)"}"#, body: nil, weight: 1, idempotent: true))
                case .kucoin:
                    try emit(NewCall(index: n, method: .delete, path: "/api/v1/orders/\(id)", params: "{}", body: nil, weight: 1, idempotent: true))
                case .bitunix:
                    try emit(NewCall(index: n, method: .post, path: "/api/v1/futures/trade/cancel_orders",
                                     params: #"{"orderIdList":["\#(id)"]}"#, body: nil, weight: 1, idempotent: true))
                case .bitz:
                    try emit(NewCall(index: n, method: .post, path: "/Trade/cancelAllEntrustSheet", params: #"{"ids":"\#(id)"}"#,
                                     body: nil, weight: 1, idempotent: true))
                }
            }
        }])
    }

    var environment: [String: String] {
        ProcessInfo.processInfo.environment.merging(["PACER_LOG_LEVEL": "error"]) { $1 }
    }

    /// Runs `count` `pacer run --drain` processes to completion (at most `limit` seconds); returns wall seconds.
    func runProcesses(_ s: Setup, count: Int, extra: [String] = [], limit: Double = 120) throws -> Double {
        let start = Date()
        let processes = try (0..<count).map { _ -> Process in
            let p = Process()
            p.executableURL = pacer
            p.arguments = ["run", "--drain", "--max-seconds", String(Int(limit)), "--db", s.db] + extra
            p.environment = environment
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        for p in processes { p.waitUntilExit() }
        return Date().timeIntervalSince(start)
    }

    /// First and last send per account, from the attempts the runners recorded.
    func sendSpans(_ s: Setup) throws -> [String: (first: Int64, last: Int64, calls: Int)] {
        if let postgres = s.store as? PostgresStore {
            var out: [String: (Int64, Int64, Int)] = [:]
            for row in try postgres.rows("""
                SELECT c.account, MIN(a.started_at), MAX(a.started_at), COUNT(*) FROM attempts a
                JOIN calls c ON c.id = a.call_id GROUP BY c.account
                """) {
                let (account, first, last, n) = try row.decode((String, Int64, Int64, Int).self)
                out[account] = (first, last, n)
            }
            return out
        }
        return try s.sqlite.pool.read { db in
            var out: [String: (Int64, Int64, Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT c.account, MIN(a.started_at) AS first, MAX(a.started_at) AS last, COUNT(*) AS n
                FROM attempts a JOIN calls c ON c.id = a.call_id GROUP BY c.account
                """) { out[row["account"]] = (row["first"], row["last"], row["n"]) }
            return out
        }
    }

    // MARK: Figures

    func utilization(processes: Int, database: Database = .sqlite, label: String = "") async throws {
        let accounts = 4, n = 20, perAccount = 220 // 20/1s for about 10 s each
        let s = try await setup(accounts: accounts, limit: "\(n)/1s", database: database)
        for i in 0..<accounts { try enqueue(s, account: i, count: perAccount) }
        let wall = try runProcesses(s, count: processes)
        await s.running.stop()
        let spans = try sendSpans(s)
        let stats = s.emulator.stats()
        var line = String(format: "  utilization%@, %d process%@ (%.1f s):", label, processes, processes == 1 ? "" : "es", wall)
        var worst = 1.0
        for i in 0..<accounts {
            guard let span = spans["acct\(i)"] else { continue }
            // After the first window's N go at once, the rest can go no faster than N per W.
            let achieved = Double(span.calls - n) / (Double(span.last - span.first) / 1000) / Double(n)
            worst = min(worst, achieved)
            line += String(format: " acct%d %.3f", i, achieved)
        }
        let violations = stats.accounts.filter { $0.violated(limit: n) }.count
        print(line + String(format: "  | worst %.3f (target >= 0.97), violations %d (target 0)", worst, violations))
    }

    func makespan() async throws {
        let accounts = 5, perAccount = 200
        let s = try await setup(accounts: accounts, limit: "10/1s")
        for i in 0..<accounts { try enqueue(s, account: i, count: perAccount) }
        let start = Date()
        _ = try runProcesses(s, count: 1)
        let wall = Date().timeIntervalSince(start)
        await s.running.stop()
        // Ideal: the first 10 at once, then 10 per second: (200 - 10) / 10 = 19 s per account, all in parallel.
        let ideal = Double(perAccount - 10) / 10
        let spans = try sendSpans(s)
        let first = spans.values.map(\.first).min() ?? 0, last = spans.values.map(\.last).max() ?? 0
        let makespan = Double(last - first) / 1000
        print(String(format: "  makespan, 1,000 calls over 5 accounts at 10/1s: %.2f s of sending (%.2f s wall) "
                     + "/ ideal %.1f s = %.3f (target <= 1.02)", makespan, wall, ideal, makespan / ideal))
    }

    func throughput(database: Database = .sqlite, label: String = "", calls: Int = 20_000) async throws {
        let s = try await setup(accounts: 1, limit: "100000000/1s", database: database)
        // The emulator's raw capacity: a bare client repeating one signed Kookeey call from 64 tasks for 3 s.
        let raw = try await bareLoad(s, seconds: 3, concurrency: 64)
        try enqueue(s, account: 0, count: calls)
        let wall = try runProcesses(s, count: 1, extra: ["--concurrency", "64"])
        await s.running.stop()
        let rate = Double(calls) / wall
        print(String(format: "  pipeline%@: %d calls in %.2f s = %.0f calls/s; bare client %.0f req/s; ratio %.2f (target >= 0.5)",
                     label, calls, wall, rate, raw, rate / raw))
    }

    func bareLoad(_ s: Setup, seconds: Double, concurrency: Int) async throws -> Double {
        let transport = HTTPTransport(timeoutSeconds: 5, connectionsPerHost: concurrency)
        let signed = Kookeey().sign(APIRequest(method: .get, path: "/stock", params: [.init("g", .string("433"))]),
                                    baseURL: s.running.baseURL(.kookeey), credentials: Credentials(key: "key0", secret: "secret0"),
                                    inputs: SigningInputs(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), nonce: ""))
        let deadline = Date().addingTimeInterval(seconds)
        let start = Date()
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var n = 0
                    while Date() < deadline && n < 1_000_000 { _ = try await transport.send(signed); n += 1 }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = Date().timeIntervalSince(start)
        try await transport.shutdown()
        return Double(total) / elapsed
    }

    func emptyDrain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pacer-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let db = dir.appendingPathComponent("pacer.sqlite").path
        _ = try SQLiteStore(path: db)
        var times: [Double] = []
        for _ in 0..<11 {
            let p = Process()
            p.executableURL = pacer
            p.arguments = ["run", "--drain", "--db", db]
            p.environment = environment
            let start = Date()
            try p.run()
            p.waitUntilExit()
            times.append(Date().timeIntervalSince(start) * 1000)
        }
        times.sort()
        print(String(format: "  pacer run --drain on an empty queue: median %.1f ms, min %.1f ms over 11 runs (target <= 50 ms)",
                     times[5], times[0]))
    }

    /// 300 polls at 20/1s on one account while 30% of requests reach the provider 1.2 s after they leave; the
    /// provider counts on arrival. Tokens stay spent until a window after the answer, so nothing is refused; the
    /// price is the rate: a delayed call holds its token 2.2 s instead of 1 s.
    func slowPath() async throws {
        var faults = FaultSettings()
        faults.seed = 11
        faults.delayIn = 0.3
        faults.delayInMilliseconds = 1_200
        let n = 20, calls = 300
        let s = try await setup(accounts: 1, limit: "\(n)/1s", faults: faults)
        try enqueue(s, account: 0, count: calls)
        let wall = try runProcesses(s, count: 1)
        await s.running.stop()
        let stats = s.emulator.stats()
        let violations = stats.accounts.reduce(0) { $0 + ($1.rejected["rate_limited"] ?? 0) }
            + stats.accounts.filter { $0.maxAcceptedInWindow > n }.count
        let span = try sendSpans(s)["acct0"]
        let sending = Double((span?.last ?? 0) - (span?.first ?? 0)) / 1000
        let ideal = Double(calls - n) / Double(n)
        print(String(format: "  slow path, 30%% of %d requests 1.2 s late at %d/1s: violations %d (target 0), "
                     + "%.2f s of sending (%.1f s wall) / ideal %.1f s: utilization %.2f",
                     calls, n, violations, sending, wall, ideal, ideal / max(sending, 0.001)))
    }

    /// What the fsync behind a durable spend costs: 300 spends (each marks one call dispatched under
    /// `synchronous = FULL`) next to 300 heartbeats (an ordinary write transaction under `NORMAL`).
    func durableMarkCost() async throws {
        let s = try await setup(accounts: 1, limit: "100000000/1s")
        await s.running.stop()
        try enqueue(s, account: 0, count: 300)
        let runner = RunnerIdentity(id: "bench", host: "bench", pid: 0)
        try s.store.registerRunner(runner, now: { 0 })
        let claimed = try s.store.claim(account: "acct0", runner: "bench", nowMilliseconds: 0, leaseUntil: .max, max: 300)
        let clock = { Int64(Date().timeIntervalSince1970 * 1000) }
        var start = Date()
        for call in claimed {
            _ = try s.store.spend(account: "acct0", calls: [(call.id, 1)], runner: "bench", now: clock,
                                  windowMilliseconds: 1_000, configuredCount: 100_000_000)
        }
        let durable = Date().timeIntervalSince(start) / Double(claimed.count) * 1000
        start = Date()
        for _ in claimed { _ = try s.store.heartbeat(runner: "bench", now: clock, leaseMilliseconds: 30_000) }
        let normal = Date().timeIntervalSince(start) / Double(claimed.count) * 1000
        print(String(format: "  durable dispatch mark: %.2f ms per spend (FULL) vs %.2f ms per heartbeat (NORMAL): "
                     + "%.1fx; a spend covers a whole granted batch", durable, normal, durable / max(normal, 0.0001)))
    }
}

extension RunnerBenchmark {
    /// How close `pacer plan`'s estimate comes to the run that follows: calls already queued plus a job file's,
    /// planned, queued and drained by one `pacer run` against the emulator; first send to last answer.
    func planAccuracy() async throws {
        for (queued, planned) in [(15, 30), (25, 70)] {
            let s = try await setup(accounts: 1, limit: "10/1s")
            try enqueue(s, account: 0, count: queued)
            let job = s.dir.appendingPathComponent("plan.yaml").path
            try """
                name: plan-check
                account: acct0
                request:
                  method: GET
                  path: /stock
                  params:
                    g: "{{item}}"
                items:
                  range: 1..\(planned)
                """.write(toFile: job, atomically: true, encoding: .utf8)
            let spec = try JobFileParser.parse(file: job)
            let enqueuer = Enqueuer(store: s.store, nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) })
            let eta = Double(try enqueuer.plan(specs: [spec]).etaMilliseconds) / 1000
            _ = try enqueuer.enqueue(specs: [spec])
            _ = try runProcesses(s, count: 1)
            await s.running.stop()
            let (first, last) = try await s.sqlite.pool.read { db in
                (try Int64.fetchOne(db, sql: "SELECT MIN(started_at) FROM attempts") ?? 0,
                 try Int64.fetchOne(db, sql: "SELECT MAX(finished_at) FROM results") ?? 0)
            }
            let measured = Double(last - first) / 1000
            print(String(format: "  plan: %d queued + %d planned at 10/1s: estimate %.2f s, run %.2f s (%.3fx; target within 10%%)",
                         queued, planned, eta, measured, measured / eta))
        }
    }
}
