import Foundation
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerPostgres
@testable import PacerStorage
import PacerTestSupport
import Testing

/// An emulator on 127.0.0.1, a fresh database with one account per provider pointing at it, and helpers to queue
/// work and run runners in-process or as `pacer run` processes. The database is SQLite, or a new database on the
/// test PostgreSQL server (`PACER_TEST_POSTGRES`, see `scripts/with-postgres.sh`).
final class RunnerHarness: @unchecked Sendable {
    let dir = TempDir()
    let emulator: Emulator
    let running: RunningEmulator
    let store: any PacerStore
    /// What `pacer --db` is given: the SQLite file's path or the PostgreSQL URL.
    let dbPath: String
    /// The SQLite store, for tests that read its tables directly.
    var sqlite: SQLiteStore { store as! SQLiteStore }

    static let secrets: [Provider: String] = [.kookeey: "kk-secret", .kucoin: "kc-secret", .bitunix: "bu-secret",
                                              .bitz: "bz-secret"]
    static func envName(_ p: Provider) -> String { "PACER_TEST_\(p.rawValue.uppercased())_SECRET" }
    static var environment: [String: String] {
        var env = Dictionary(uniqueKeysWithValues: Provider.allCases.map { (envName($0), secrets[$0]!) })
        env["PACER_TEST_KUCOIN_PASSPHRASE"] = "kc-pass"
        return env
    }

    /// - Parameters:
    ///   - configured: the limit Pacer is told; `enforced`: the one the emulator applies (default: the same).
    ///   - latency: how long the emulator takes to answer each provider's account (a slow account).
    ///   - otherClient: requests per window another client spends from a provider's account.
    ///   - server: a PostgreSQL server of the test's own (for tests that restart it) instead of `database`.
    init(configured: String = "50/1s", enforced: String? = nil, faults: FaultSettings = .init(),
         latency: [Provider: Int] = [:], otherClient: [Provider: Int] = [:], database: TestDatabase = .sqlite,
         on server: PrivatePostgres? = nil) async throws {
        for (name, value) in Self.environment { setenv(name, value, 1) }
        emulator = try Emulator(config: EmulatorConfig(accounts: Provider.allCases.map { p in
            .init(provider: p, key: "\(p.rawValue)-key", secret: Self.secrets[p]!,
                  passphrase: p == .kucoin ? "kc-pass" : nil, limit: enforced ?? configured, latencyMilliseconds: latency[p],
                  otherClientPerWindow: otherClient[p])
        }, faults: faults))
        running = try await emulator.start()
        if let server {
            let location = try server.freshDatabase()
            (store, dbPath) = (try PostgresStore(location: location), location.url)
        } else {
            (store, dbPath) = try database.open(in: dir)
        }
        for p in Provider.allCases {
            try store.addAccount(Account(
                name: p.rawValue, provider: p, baseURL: running.baseURL(p), limit: RateLimit(parsing: configured)!,
                credentials: CredentialReferences(key: "\(p.rawValue)-key", secretEnv: Self.envName(p),
                                                  passphraseEnv: p == .kucoin ? "PACER_TEST_KUCOIN_PASSPHRASE" : nil)),
                replace: false, nowMilliseconds: 0)
        }
    }

    func stop() async { await running.stop() }

    /// `count` distinct calls for `provider`, each a logical call the emulator can count.
    /// Idempotent reads that are safe to repeat: one per provider (used where responses may be lost).
    func enqueueReads(_ provider: Provider, count: Int) throws {
        guard provider == .kucoin else { return try enqueue(provider, count: count) }
        _ = try store.enqueue([RunToEnqueue(run: NewRun(job: "kucoin-reads", account: "kucoin", jobFile: "r.yaml",
                                                        retry: RetryPolicy(attempts: 8, minimumBackoffMilliseconds: 50,
                                                                           maximumBackoffMilliseconds: 400),
                                                        createdAtMilliseconds: 0)) { emit in
            for i in 0..<count {
                try emit(NewCall(index: i, method: .get, path: "/api/v1/orders", params: #"{"tag":"r\#(i)"}"#,
                                 body: nil, weight: 1, idempotent: true))
            }
        }])
    }

    func enqueue(_ provider: Provider, count: Int, idempotent: Bool = true, job: String? = nil) throws {
        let name = job ?? "\(provider.rawValue)-job"
        _ = try store.enqueue([RunToEnqueue(run: NewRun(job: name, account: provider.rawValue, jobFile: "\(name).yaml",
                                                        retry: RetryPolicy(attempts: 8, minimumBackoffMilliseconds: 50,
                                                                           maximumBackoffMilliseconds: 400),
                                                        createdAtMilliseconds: 0)) { emit in
            for i in 0..<count {
                let id = "\(name)-\(i)"
                let call: NewCall
                switch provider {
                case .kookeey:
                    call = NewCall(index: i, method: .get, path: idempotent ? "/renew" : "/order",
                                   params: idempotent ? #"{"line":"\#(id)","days":30}"# : #"{"orderno":"\#(id)"}"#,
                                   body: nil, weight: 1, idempotent: idempotent)
                case .kucoin:
                    call = idempotent
                        ? NewCall(index: i, method: .delete, path: "/api/v1/orders/\(id)", params: "{}", body: nil,
                                  weight: 1, idempotent: true)
                        : NewCall(index: i, method: .post, path: "/api/v1/orders",
                                  params: #"{"clientOid":"\#(id)","symbol":"BTC-USDT"}"#, body: nil, weight: 1,
                                  idempotent: false)
                case .bitunix:
                    call = NewCall(index: i, method: .post, path: "/api/v1/futures/trade/cancel_orders",
                                   params: #"{"symbol":"BTCUSDT","orderIdList":["\#(id)"]}"#, body: nil, weight: 1,
                                   idempotent: idempotent)
                case .bitz:
                    call = NewCall(index: i, method: .post, path: "/Trade/cancelAllEntrustSheet",
                                   params: #"{"ids":"\#(id)"}"#, body: nil, weight: 1, idempotent: idempotent)
                }
                try emit(call)
            }
        }])
    }

    /// Starts `pacer run` processes against this harness's database (warnings only on stderr).
    func startRunners(_ count: Int, _ extra: [String] = []) throws -> [PacerProcess.Running] {
        try (0..<count).map { _ in
            try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", dbPath] + extra,
                                   environment: Self.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 })
        }
    }

    /// Waits (at most `seconds`) for the processes to exit, terminating any still running; returns their stderr.
    func wait(_ processes: [PacerProcess.Running], seconds: Double = 90) async throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        while processes.contains(where: { $0.process.isRunning }) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        for p in processes where p.process.isRunning { p.process.terminate() }
        // One that ignores the stop (a runner stuck on a silent database) is killed 10 s later.
        let killBy = Date().addingTimeInterval(10)
        while processes.contains(where: { $0.process.isRunning }) && Date() < killBy {
            try await Task.sleep(for: .milliseconds(50))
        }
        for p in processes where p.process.isRunning { kill(p.process.processIdentifier, SIGKILL) }
        return processes.map { p in
            p.process.waitUntilExit()
            return String(decoding: p.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
    }

    func runInProcess(metrics: RunnerMetrics = RunnerMetrics(),
                      _ configure: (inout RunnerOptions) -> Void = { _ in }) async throws -> Runner.Summary {
        var options = RunnerOptions()
        options.drain = true
        options.maxSeconds = 60
        configure(&options)
        let transport = HTTPTransport(timeoutSeconds: 5)
        let runner = Runner(store: store, transport: transport, options: options, metrics: metrics)
        do {
            let summary = try await runner.run()
            try await transport.shutdown()
            return summary
        } catch {
            try? await transport.shutdown()
            throw error
        }
    }

    /// KuCoin reads and orders queued together (`enqueueReads(.kucoin, count: reads)` and `orders` in the job
    /// "kucoin-orders") all ended: every read succeeded, every order succeeded or was left `uncertain`, none was
    /// placed twice, and the emulator refused nothing as over the limit. `context` goes with a failure.
    func expectKucoinReadsAndOrdersDone(reads: Int, orders: Int, _ context: String,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        var states: [String: [CallState: Int]] = [:]
        try store.results(run: nil) { states[$0.job, default: [:]][$0.state, default: 0] += 1 }
        #expect(states["kucoin-reads"] == [.succeeded: reads], "\(states) \(context)", sourceLocation: sourceLocation)
        let ended = states["kucoin-orders"] ?? [:]
        #expect(Set(ended.keys).isSubset(of: [.succeeded, .uncertain]) && ended.values.reduce(0, +) == orders,
                "\(ended)", sourceLocation: sourceLocation)
        let stats = emulator.stats()
        #expect(stats.duplicatedCalls.filter { $0.key.contains("POST") }.isEmpty, "an order was placed twice",
                sourceLocation: sourceLocation)
        for account in stats.accounts {
            #expect(account.rejected["rate_limited"] == nil, "\(account.key): \(account.rejected)",
                    sourceLocation: sourceLocation)
        }
    }

    func states() throws -> [CallState: Int] {
        var counts: [CallState: Int] = [:]
        try store.results(run: nil) { counts[$0.state, default: 0] += 1 }
        return counts
    }

    /// The classification of every try of the calls now in `state`.
    func classificationsOfTries(ofCallsIn state: CallState) throws -> [String] {
        let sql = "SELECT a.classification FROM calls c JOIN attempts a ON a.call_id = c.id WHERE c.state = '\(state.rawValue)'"
        if let postgres = store as? PostgresStore {
            return try postgres.rows(sql).map { try $0.decode(String.self) }
        }
        return try sqlite.pool.read { db in try String.fetchAll(db, sql: sql) }
    }

    func attemptsByClassification() throws -> [String: Int] {
        try sqlite.pool.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT classification, COUNT(*) AS n FROM attempts GROUP BY classification") {
                out[row["classification"]] = row["n"]
            }
            return out
        }
    }
}

import GRDB
import PacerSQLite
