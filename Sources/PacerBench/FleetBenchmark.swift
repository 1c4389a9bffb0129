import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerPostgres
import PacerStorage
import PacerTestSupport

/// Many accounts on each store, side by side in one run (`pacer-bench postgres --parts fleet,latency,many`): 1,000 Kookeey
/// accounts x 20 calls at 10/1s, drained by `pacer run --drain` processes, on SQLite (1 runner) and on PostgreSQL
/// (1 and 3 runners) on loopback and through a proxy that adds `hopMilliseconds` each way. For each: makespan,
/// calls per second, CPU of the runners and of the PostgreSQL server, requests the runners sent to the server per
/// call (as the proxy counts them), and windows over the limit. The `latency` part answers every request after
/// 50 ms or 200 ms, as a provider across the internet does: one runner is then bound by its requests in
/// flight, not by this machine's cores, which is where more runners add capacity.
struct FleetBenchmark {
    let server: String
    let runner = RunnerBenchmark()
    var hopMilliseconds = 1.0

    struct Figures {
        var wall: Double
        var calls: Int
        var done: Int
        var violations: Int
        var runnerCPU: Double
        var serverCPU: Double
        /// This process's: the emulator's (and the benchmark's own bookkeeping).
        var emulatorCPU: Double
        var serverRequests: Int?
        var callsPerSecond: Double { Double(done) / wall }
    }

    func run(parts: Set<String>) async throws {
        if parts.contains("fleet") {
            print("  1,000 Kookeey accounts x 20 calls at 10/1s, `pacer run --drain --concurrency 64` (limits alone: 1.0 s)")
            let sqlite = try await measure(accounts: 1_000, perAccount: 20, database: .sqlite, runners: 1)
            report("SQLite, 1 runner", sqlite, base: sqlite)
            let cases: [(label: String, runners: Int, hop: Bool)] = [
                ("PostgreSQL loopback, 1 runner", 1, false), ("PostgreSQL loopback, 3 runners", 3, false),
                (String(format: "PostgreSQL +%.0f ms each way, 1 runner", hopMilliseconds), 1, true),
                (String(format: "PostgreSQL +%.0f ms each way, 3 runners", hopMilliseconds), 3, true),
            ]
            var single: [Bool: Figures] = [:]
            for c in cases {
                let f = try await measure(accounts: 1_000, perAccount: 20, database: .postgres(server: server),
                                          runners: c.runners, hop: c.hop)
                if c.runners == 1 { single[c.hop] = f }
                report(c.label, f, base: sqlite, one: c.runners == 1 ? nil : single[c.hop])
            }
        }
        if parts.contains("latency") {
            // 50 ms: three runners reach this machine's cores; 200 ms (a provider far away): they do not.
            try await latency(milliseconds: 50, perAccount: 20, sqlite: true)
            try await latency(milliseconds: 200, perAccount: 10, sqlite: false)
        }
        if parts.contains("many") {
            let f = try await measure(accounts: 10_000, perAccount: 5, database: .postgres(server: server), runners: 1)
            report("10,000 accounts x 5 calls, PostgreSQL loopback, 1 runner", f, base: nil)
        }
    }

    /// 1,000 accounts x `perAccount` calls answered after `milliseconds`: 1 and 3 runners on PostgreSQL (and on
    /// SQLite), `--concurrency 64` each.
    func latency(milliseconds: Int, perAccount: Int, sqlite withSQLite: Bool) async throws {
        let calls = 1_000 * perAccount
        print("  1,000 Kookeey accounts x \(perAccount) calls at 10/1s, every answer after \(milliseconds) ms, "
              + "`pacer run --drain --concurrency 64` (limits alone: \(perAccount / 10 - 1).0 s; 64 in flight: "
              + String(format: "%.1f s a runner)", Double(calls * milliseconds) / 1_000 / 64))
        var slow = FaultSettings()
        slow.slow = 1
        slow.slowMilliseconds = milliseconds
        var base: Figures?
        if withSQLite {
            let one = try await measure(accounts: 1_000, perAccount: perAccount, database: .sqlite, runners: 1, faults: slow)
            report("SQLite, 1 runner", one, base: one)
            let three = try await measure(accounts: 1_000, perAccount: perAccount, database: .sqlite, runners: 3, faults: slow)
            report("SQLite, 3 runners", three, base: one, one: one)
            base = one
        }
        let one = try await measure(accounts: 1_000, perAccount: perAccount, database: .postgres(server: server), runners: 1,
                                    faults: slow)
        report("PostgreSQL loopback, 1 runner", one, base: base)
        let three = try await measure(accounts: 1_000, perAccount: perAccount, database: .postgres(server: server),
                                      runners: 3, faults: slow)
        report("PostgreSQL loopback, 3 runners", three, base: base, one: one)
    }

    func report(_ label: String, _ f: Figures, base: Figures?, one: Figures? = nil) {
        var line = String(format: "    %@: %d/%d done in %.2f s = %.0f calls/s", label, f.done, f.calls, f.wall,
                          f.callsPerSecond)
        if let base, base.wall != f.wall { line += String(format: "; makespan / SQLite's %.2f", f.wall / base.wall) }
        if let one { line += String(format: "; calls/s / 1 runner's %.2f", f.callsPerSecond / one.callsPerSecond) }
        let busy = (f.runnerCPU + f.serverCPU + f.emulatorCPU) / f.wall
        line += String(format: "; violations %d; CPU: runners %.1f s, PostgreSQL %.1f s, emulator and proxy %.1f s (%.1f of %d cores busy)",
                       f.violations, f.runnerCPU, f.serverCPU, f.emulatorCPU, busy,
                       ProcessInfo.processInfo.activeProcessorCount)
        if let requests = f.serverRequests {
            line += String(format: "; %.2f requests to the server a call", Double(requests) / Double(max(1, f.calls)))
        }
        print(line)
    }

    func measure(accounts: Int, perAccount: Int, database: RunnerBenchmark.Database, runners: Int,
                 hop: Bool = false, faults: FaultSettings = .init()) async throws -> Figures {
        let n = 10
        let s = try await runner.setup(accounts: accounts, limit: "\(n)/1s", faults: faults, providerOf: { _ in .kookeey },
                                       database: database)
        for i in 0..<accounts { try runner.enqueue(s, account: i, count: perAccount, provider: .kookeey) }
        var setup = s
        var proxy: SilentProxy?
        if hop, case .postgres = database {
            var location = try PostgresLocation(url: s.db)
            let through = try SilentProxy(to: location.port, delayMilliseconds: hopMilliseconds)
            location.host = "127.0.0.1"
            location.port = through.port
            setup = RunnerBenchmark.Setup(dir: s.dir, emulator: s.emulator, running: s.running, store: s.store,
                                          db: location.url)
            proxy = through
        }
        defer { proxy?.stop() }
        let (childrenBefore, serverBefore, selfBefore) = (ScaleBenchmark.usage(RUSAGE_CHILDREN), Self.postgresCPU(),
                                                          ScaleBenchmark.usage(RUSAGE_SELF))
        let wall = try runner.runProcesses(setup, count: runners, extra: ["--concurrency", "64"], limit: 600)
        let runnerCPU = ScaleBenchmark.usage(RUSAGE_CHILDREN) - childrenBefore
        let serverCPU = Self.postgresCPU() - serverBefore
        let emulatorCPU = ScaleBenchmark.usage(RUSAGE_SELF) - selfBefore
        let requests = proxy?.chunksFromClients
        await s.running.stop()
        let violations = s.emulator.stats().accounts.filter { $0.violated(limit: n) }.count
        let done = try succeeded(s)
        return Figures(wall: wall, calls: accounts * perAccount, done: done, violations: violations,
                       runnerCPU: runnerCPU, serverCPU: serverCPU, emulatorCPU: emulatorCPU, serverRequests: requests)
    }

    func succeeded(_ s: RunnerBenchmark.Setup) throws -> Int {
        if let postgres = s.store as? PostgresStore {
            return try postgres.rows("SELECT COUNT(*) FROM calls WHERE state = 'succeeded'").first?.decode(Int.self) ?? 0
        }
        return try s.sqlite.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM calls WHERE state = 'succeeded'") ?? 0 }
    }

    /// CPU seconds used so far by the processes named `postgres` on this machine, with their exited children's
    /// (a backend that ended is counted in the postmaster's).
    static func postgresCPU() -> Double {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
            .compactMap { ScaleBenchmark.cpuSeconds($0, children: true, named: "postgres") }.reduce(0, +)
    }
}
