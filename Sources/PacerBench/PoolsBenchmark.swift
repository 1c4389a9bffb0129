import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerJobs
import PacerPostgres
import PacerQueue
import PacerStorage
import PacerSQLite

/// Limits as the providers define them (docs/pools.md), against the in-process emulator on 127.0.0.1, which
/// enforces the pools it is configured with by hand (never from Pacer's endpoint tables). Parts:
/// - `pools`: a KuCoin account's spot and management pools on one host, two jobs at once; then the spot pool
///   enforced lower than the account was told;
/// - `shared`: five accounts of 10/1s sharing a pool of 30/1s;
/// - `windows`: one account with 10/1s and 30/5s;
/// - `weights`: weights 1, 2 and 30 at once in one pool;
/// - `priority`: a `priority: 10` cancel job queued behind 2,000 polls;
/// - `fleet`: the shared pool with 3 processes, on SQLite and PostgreSQL (when `PACER_TEST_POSTGRES` names a
///   server), with its limit lowered mid-run.
struct PoolsBenchmark {
    var parts: Set<String> = ["pools", "shared", "windows", "weights", "priority", "fleet"]
    let bench = RunnerBenchmark()

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: bench.pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("pools benchmark (emulator and runners on 127.0.0.1)")
        if parts.contains("pools") { try await spotAndManagement() }
        if parts.contains("shared") { try await sharedPool(processes: 1, database: .sqlite) }
        if parts.contains("windows") { try await overlappingWindows() }
        if parts.contains("weights") { try await weights() }
        if parts.contains("priority") { try await priority() }
        if parts.contains("fleet") {
            try await sharedPool(processes: 3, database: .sqlite, lowerAfter: 6)
            if let server = ProcessInfo.processInfo.environment["PACER_TEST_POSTGRES"] {
                try await sharedPool(processes: 3, database: .postgres(server: server), lowerAfter: 6)
                try await spotAndManagement(processes: 3, database: .postgres(server: server), enforced: [24])
            } else {
                print("  fleet on PostgreSQL: skipped (PACER_TEST_POSTGRES is not set; see scripts/with-postgres.sh)")
            }
        }
    }

    // MARK: Setup

    /// An emulator with `accounts`, and a new store whose accounts are `pacer account add`'s equivalent of
    /// `limits` (name -> (provider, key, limits, shared)).
    func setup(_ config: EmulatorConfig, accounts: [(name: String, provider: Provider, key: String, limits: [String],
                                                     shared: [String])],
               sharedPools: [SharedPool] = [], database: RunnerBenchmark.Database = .sqlite) async throws
        -> RunnerBenchmark.Setup {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pacer-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let emulator = try Emulator(config: config)
        let running = try await emulator.start()
        let (store, db) = try RunnerBenchmark.open(database, dir: dir)
        for pool in sharedPools { try store.addSharedPool(pool, replace: false, nowMilliseconds: 0) }
        setenv("PACER_BENCH_PASSPHRASE", "pass", 1)
        for a in accounts {
            setenv("PACER_BENCH_SECRET_\(a.key)", "secret-\(a.key)", 1)
            let own = try AccountLimits(parsing: a.limits)
            try store.addAccount(Account(name: a.name, provider: a.provider, baseURL: running.baseURL(a.provider),
                                         limits: AccountLimits(pools: own.pools, shared: a.shared),
                                         credentials: CredentialReferences(
                                             key: a.key, secretEnv: "PACER_BENCH_SECRET_\(a.key)",
                                             passphraseEnv: a.provider == .kucoin ? "PACER_BENCH_PASSPHRASE" : nil)),
                                 replace: false, nowMilliseconds: 0)
        }
        return RunnerBenchmark.Setup(dir: dir, emulator: emulator, running: running, store: store, db: db)
    }

    func emulated(_ provider: Provider, key: String, limit: String, pools: [PoolConfig]? = nil)
        -> EmulatorConfig.AccountConfig {
        .init(provider: provider, key: key, secret: "secret-\(key)", passphrase: provider == .kucoin ? "pass" : nil,
              limit: limit, pools: pools)
    }

    /// Queues a job file (`yaml`) as `pacer enqueue` does: the provider's endpoint table decides its pools and
    /// weights.
    func enqueue(_ s: RunnerBenchmark.Setup, _ name: String, _ yaml: String) throws {
        let file = s.dir.appendingPathComponent("\(name).yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        _ = try Enqueuer(store: s.store, nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) })
            .enqueue(files: [file])
    }

    /// Every attempt's send instant (ms) per run's job, in order.
    func sends(_ s: RunnerBenchmark.Setup) throws -> [String: [Int64]] {
        let sql = """
            SELECT r.job, a.started_at FROM attempts a JOIN calls c ON c.id = a.call_id JOIN runs r ON r.id = c.run_id
            ORDER BY a.started_at
            """
        var out: [String: [Int64]] = [:]
        if let postgres = s.store as? PostgresStore {
            for row in try postgres.rows(sql) {
                let (job, at) = try row.decode((String, Int64).self)
                out[job, default: []].append(at)
            }
            return out
        }
        return try s.sqlite.pool.read { db in
            for row in try Row.fetchAll(db, sql: sql) { out[row[0], default: []].append(row[1]) }
            return out
        }
    }

    /// The most weight sent in any window of `width` ms among `sends` (each of `weight`), from `after` on.
    static func peak(_ sends: [Int64], weight: Int = 1, width: Int64, after: Int64 = .min) -> Int {
        let times = sends.filter { $0 >= after }.sorted()
        var tail = 0, best = 0
        for head in times.indices {
            while times[head] - times[tail] >= width { tail += 1 }
            best = max(best, (head - tail + 1) * weight)
        }
        return best
    }

    /// From the first send to the last when `calls` go as early as every window allows (`(count, ms)` each).
    static func idealSpan(calls: Int, windows: [(Int, Int64)]) -> Int64 {
        var times: [Int64] = []
        for _ in 0..<calls {
            var t = times.last ?? 0
            // The earliest instant at which every window has room: move past the send that would leave each.
            while let blocker = windows.compactMap({ count, width -> Int64? in
                let inside = times.filter { t - $0 < width }
                return inside.count >= count ? inside[inside.count - count] + width : nil
            }).max() { t = blocker }
            times.append(t)
        }
        return times.last ?? 0
    }

    static func seconds(_ sends: [Int64]) -> Double {
        guard let first = sends.first, let last = sends.last else { return 0 }
        return Double(last - first) / 1000
    }

    // MARK: Figures

    /// A KuCoin account with a spot pool of 30/1s (cancels weigh 3: 10 a second) and a management pool of 10/1s
    /// (account reads weigh 5: 2 a second), 100 cancels and 18 reads at once. Then the same with the spot pool
    /// enforced at 24/1s: the provider refuses spot calls, and the management calls keep their pace.
    func spotAndManagement(processes: Int = 1, database: RunnerBenchmark.Database = .sqlite,
                           enforced cases: [Int] = [30, 24]) async throws {
        for enforced in cases {
            let pools = [
                PoolConfig(name: "spot", limits: ["\(enforced)/1s"], prefixes: ["/api/v1/orders", "/api/v1/hf"],
                           weights: ["DELETE /api/v1/orders/{id}": 3]),
                PoolConfig(name: "management", limits: ["10/1s"], prefixes: ["/api/v1/accounts"],
                           weights: ["GET /api/v1/accounts": 5]),
            ]
            let s = try await setup(EmulatorConfig(accounts: [emulated(.kucoin, key: "k1", limit: "100000/1s", pools: pools)]),
                                    accounts: [("kc", .kucoin, "k1", ["spot=30/1s", "management=10/1s"], [])],
                                    database: database)
            try enqueue(s, "spot", """
                name: spot
                account: kc
                request: {method: DELETE, path: "/api/v1/orders/{{item}}"}
                items: {range: 1..100}
                """)
            try enqueue(s, "management", """
                name: management
                account: kc
                request: {method: GET, path: /api/v1/accounts, params: {type: "t{{item}}"}}
                items: {range: 1..18}
                """)
            _ = try bench.runProcesses(s, count: processes)
            await s.running.stop()
            let sent = try sends(s)
            let stats = s.emulator.stats().account("k1")!
            let on = processes == 1 && !database.isPostgres ? "" : String(format: " (%d processes, %@)", processes,
                                                                          database.isPostgres ? "PostgreSQL" : "SQLite")
            let spotPool = stats.pools.first { $0.name == "spot" }!, management = stats.pools.first { $0.name == "management" }!
            // Ideal: a first window's worth at once, then the pool's pace: spot 10/s, management 2/s.
            let spotIdeal = Double(100 - 10) / 10, managementIdeal = Double(18 - 2) / 2
            let all = (sent["spot"] ?? []) + (sent["management"] ?? [])
            let makespan = Self.seconds(all.sorted())
            if enforced == 30 {
                print(String(format: "  pools: spot 30/1s (weight 3) and management 10/1s (weight 5) at once: makespan %.2f s / "
                             + "busier pool's ideal %.1f s = %.3f (target <= 1.10; the sum would be %.1f s); "
                             + "most in a window: spot %d/30, management %d/10; pools over: %d",
                             makespan, max(spotIdeal, managementIdeal), makespan / max(spotIdeal, managementIdeal),
                             spotIdeal + managementIdeal, spotPool.maxSentInWindow[0], management.maxSentInWindow[0],
                             [spotPool, management].filter(\.violated).count))
            } else {
                let pace = Self.seconds(sent["management"] ?? [])
                print(String(format: "  pools%@: spot enforced at 24/1s, told 30/1s: %d spot refusals; management's calls "
                             + "%.2f s of sending / ideal %.1f s = %.3f (target: as without refusals), %d refused, "
                             + "most in a window %d/10",
                             on, spotPool.refused, pace, managementIdeal, pace / managementIdeal, management.refused,
                             management.maxSentInWindow[0]))
            }
        }
    }

    /// Five Kookeey accounts of 10/1s each draw from a shared pool of 30/1s: 120 calls each.
    func sharedPool(processes: Int, database: RunnerBenchmark.Database, lowerAfter: Double? = nil) async throws {
        let keys = (1...5).map { "s\($0)" }
        let config = EmulatorConfig(accounts: keys.map { emulated(.kookeey, key: $0, limit: "10/1s") },
                                    sharedPools: [PoolConfig(name: "office", limits: ["30/1s"], provider: .kookeey)])
        let s = try await setup(config, accounts: keys.map { ($0, .kookeey, $0, ["10/1s"], ["office"]) },
                                sharedPools: [SharedPool(name: "office", windows: [RateLimit(count: 30, windowMilliseconds: 1_000)])],
                                database: database)
        let perAccount = lowerAfter == nil ? 120 : 200
        for key in keys {
            try enqueue(s, "job-\(key)", """
                name: job-\(key)
                account: \(key)
                request: {method: GET, path: /stock, params: {g: "{{item}}"}}
                items: {range: 1..\(perAccount)}
                """)
        }
        var loweredAt: Int64?
        let lowering = lowerAfter.map { seconds in
            Task {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                try s.store.addSharedPool(SharedPool(name: "office", windows: [RateLimit(count: 15, windowMilliseconds: 1_000)]),
                                          replace: true, nowMilliseconds: 0)
                return Int64(Date().timeIntervalSince1970 * 1000)
            }
        }
        _ = try bench.runProcesses(s, count: processes, limit: 180)
        if let lowering { loweredAt = try await lowering.value }
        await s.running.stop()
        let byJob = try sends(s)
        let all = byJob.values.flatMap { $0 }.sorted()
        let stats = s.emulator.stats()
        let office = stats.sharedPools[0]
        let label = database.isPostgres ? "PostgreSQL" : "SQLite"
        if let loweredAt {
            let before = all.filter { $0 < loweredAt }
            let rateBefore = Double(before.count - 30) / Self.seconds(before) / 30
            // From a second after the change, at most 15 in any second.
            let after = Self.peak(all, width: 1_000, after: loweredAt + 1_000)
            let late = Self.peak(all, width: 1_000, after: loweredAt)
            print(String(format: "  fleet, %@, %d processes: shared pool over %d (target 0); before the change %.3f of 30/s; "
                         + "lowered to 15/1s mid-run: most in a second from 1 s after %d (target <= 15), from the change on %d",
                         label, processes, office.violated ? 1 : 0, rateBefore, after, late))
        } else {
            let rate = Double(all.count - 30) / Self.seconds(all) / 30
            // Sustained: while at least three accounts still have calls (three of 10/1s can fill 30/1s); at the
            // end one account's own 10/1s binds, whatever the shared pool allows.
            // What left before the last burst that starts by then, over the time to that burst's start: whole
            // windows only (sends come in bursts as tokens return a window after the answers).
            let finishes = byJob.values.compactMap(\.last).sorted()
            let cut = finishes[finishes.count - 3]
            let burst = all.indices.last { $0 > 0 && all[$0] <= cut && all[$0] - all[$0 - 1] > 100 } ?? all.count - 1
            let sustained = Double(burst) / (Double(all[burst] - all[0]) / 1000) / 30
            print(String(format: "  shared: 5 accounts of 10/1s sharing 30/1s, %d process%@ on %@: %d calls, sustained %.3f "
                         + "of 30/s while three accounts have work (target >= 0.95), %.3f over the whole run; most in a "
                         + "window %d/30, shared pool over: %@, accounts over: %d",
                         processes, processes == 1 ? "" : "es", label, all.count, sustained, rate,
                         office.maxSentInWindow[0], office.violated ? "yes" : "no",
                         stats.accounts.filter { $0.violated(limit: 10) }.count))
        }
    }

    /// One Kookeey account of 10/1s and 30/5s (the second binds: 6 a second on average), 150 calls.
    func overlappingWindows() async throws {
        let config = EmulatorConfig(accounts: [emulated(.kookeey, key: "w1", limit: "10/1s",
                                                        pools: [PoolConfig(name: "slow", limits: ["30/5s"])])])
        let s = try await setup(config, accounts: [("w", .kookeey, "w1", ["10/1s", "30/5s"], [])])
        try enqueue(s, "windows", """
            name: windows
            account: w
            request: {method: GET, path: /stock, params: {g: "{{item}}"}}
            items: {range: 1..150}
            """)
        _ = try bench.runProcesses(s, count: 1)
        await s.running.stop()
        let sent = try sends(s)["windows"] ?? []
        let stats = s.emulator.stats().account("w1")!
        // Utilization of the window that binds: the ideal schedule's span (each call as early as both windows
        // allow) over the run's.
        let ideal = Self.idealSpan(calls: sent.count, windows: [(10, 1_000), (30, 5_000)])
        print(String(format: "  windows: 10/1s and 30/5s, 150 calls: %.2f s of sending, ideal %.2f s: utilization of 30/5s "
                     + "%.3f (target >= 0.95); most in 1 s %d/10, in 5 s %d/30; refused %d", Self.seconds(sent),
                     Double(ideal) / 1000, Double(ideal) / 1000 / Self.seconds(sent), Self.peak(sent, width: 1_000),
                     Self.peak(sent, width: 5_000), stats.rejected["rate_limited"] ?? 0))
    }

    /// One KuCoin spot pool of 60/1s: 300 cancels by id (weight 1), 100 cancels by symbol (2) and 10 cancel-alls
    /// (30) at once.
    func weights() async throws {
        let pool = PoolConfig(name: "spot", limits: ["60/1s"], prefixes: ["/api/v1/hf"],
                              weights: ["DELETE /api/v1/hf/orders/{id}": 1, "DELETE /api/v1/hf/orders": 2,
                                        "DELETE /api/v1/hf/orders/cancelAll": 30])
        let s = try await setup(EmulatorConfig(accounts: [emulated(.kucoin, key: "h1", limit: "100000/1s", pools: [pool])]),
                                accounts: [("hf", .kucoin, "h1", ["spot=60/1s"], [])])
        try enqueue(s, "light", "name: light\naccount: hf\nrequest: {method: DELETE, path: \"/api/v1/hf/orders/{{item}}\"}\nitems: {range: 1..300}\n")
        try enqueue(s, "middle", "name: middle\naccount: hf\nrequest: {method: DELETE, path: /api/v1/hf/orders, params: {symbol: \"S{{item}}\"}}\nitems: {range: 1..100}\n")
        try enqueue(s, "heavy", "name: heavy\naccount: hf\nrequest: {method: DELETE, path: /api/v1/hf/orders/cancelAll, params: {tag: \"t{{item}}\"}}\nitems: {range: 1..10}\n")
        _ = try bench.runProcesses(s, count: 1)
        await s.running.stop()
        let sent = try sends(s)
        let stats = s.emulator.stats().account("h1")!.pools[0]
        let end = sent.values.compactMap(\.last).max() ?? 0, start = sent.values.compactMap(\.first).min() ?? 0
        let heavyDone = Double((sent["heavy"]?.last ?? 0) - start) / 1000
        let total = 300 + 100 * 2 + 10 * 30
        print(String(format: "  weights 1, 2, 30 in one pool of 60/1s (%d units): most in a window %d/60 (target <= 60), "
                     + "refused %d; %.2f s in all (ideal %.1f s); the last heavy call went at %.2f s, %d/10 sent",
                     total, stats.maxSentInWindow[0], stats.refused, Double(end - start) / 1000,
                     Double(total - 60) / 60, heavyDone, sent["heavy"]?.count ?? 0))
    }

    /// A Kookeey account of 100/1s with 2,000 polls queued; a runner sends them; 3 s in, a `priority: 10` job of
    /// 50 calls is queued behind them.
    func priority() async throws {
        let s = try await setup(EmulatorConfig(accounts: [emulated(.kookeey, key: "p1", limit: "100/1s")]),
                                accounts: [("p", .kookeey, "p1", ["100/1s"], [])])
        try enqueue(s, "polls", "name: polls\naccount: p\nrequest: {method: GET, path: /stock, params: {g: \"{{item}}\"}}\nitems: {range: 1..2000}\n")
        let cancelJob = "name: cancel\naccount: p\npriority: 10\nrequest: {method: GET, path: /stock, params: {g: \"c{{item}}\"}}\nitems: {range: 1..50}\n"
        let file = s.dir.appendingPathComponent("cancel.yaml").path
        try cancelJob.write(toFile: file, atomically: true, encoding: .utf8)
        let store = s.store
        let urgent = Task {
            try await Task.sleep(for: .seconds(3))
            let at = Int64(Date().timeIntervalSince1970 * 1000)
            _ = try Enqueuer(store: store, nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) }).enqueue(files: [file])
            return at
        }
        _ = try bench.runProcesses(s, count: 1)
        let queuedAt = try await urgent.value
        await s.running.stop()
        let sent = try sends(s)
        let cancels = sent["cancel"] ?? [], polls = sent["polls"] ?? []
        guard let first = cancels.first, let last = cancels.last else { print("  priority: no cancel was sent"); return }
        let pollsBetween = polls.filter { $0 > first && $0 < last }.count
        print(String(format: "  priority: cancel job queued behind %d polls: first cancel %.2f s after it was queued "
                     + "(target within one window, 1 s), all 50 in %.2f s; polls sent meanwhile %d (spent before it came)",
                     polls.filter { $0 > queuedAt }.count + cancels.count, Double(first - queuedAt) / 1000,
                     Double(last - first) / 1000, pollsBetween))
    }
}

extension RunnerBenchmark.Database {
    var isPostgres: Bool { if case .postgres = self { true } else { false } }
}
