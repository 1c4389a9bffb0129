import Foundation
import PacerCore
import PacerEmulator
import PacerStorage
import PacerTestSupport

/// `pacer-bench hostile`: the host and the network misbehave while `pacer run` (the release binary) sends, and
/// the figures are read at the emulator (in this process, on the real clock):
/// - clock-step: the runner's wall clock steps one window forward, then 20 s back (libfaketime's timestamp file);
/// - partition: PostgreSQL goes silent 4 s into a run (a proxy that stops forwarding, no FIN, no RST); the runner
///   must end by itself, and a new run on a working connection finishes the work;
/// - restart: `pg_ctl restart` of a PostgreSQL server of the benchmark's own, mid-run.
/// Each prints requests over the limit, calls lost (not ended) and orders performed twice (all targets 0).
/// PostgreSQL parts need `scripts/with-postgres.sh` (or `PACER_BENCH_POSTGRES`). Every loop is bounded.
struct HostileBenchmark {
    let runner = RunnerBenchmark()
    let noise = NoiseBenchmark()

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: runner.pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("hostile (emulator and runners on 127.0.0.1)")
        try await clockStep()
        let env = ProcessInfo.processInfo.environment
        if let server = env["PACER_BENCH_POSTGRES"] ?? env["PACER_TEST_POSTGRES"] {
            try await partition(server: server)
        } else {
            print("  partition: skipped (run through scripts/with-postgres.sh)")
        }
        try await restart()
    }

    /// Four accounts at 40/2s, 240 calls each; the wall clock steps +2 s once a quarter went, -20 s at half.
    func clockStep() async throws {
        let s = try await runner.setup(accounts: 4, limit: "40/2s")
        for i in 0..<4 { try runner.enqueue(s, account: i, count: 240) }
        let offset = s.dir.appendingPathComponent("faketime-offset")
        try "+0s\n".write(to: offset, atomically: true, encoding: .utf8)
        let env = runner.environment.merging(FakeTime.following(offset.path)) { $1 }
        let p = try launch(["run", "--drain", "--max-seconds", "120", "--db", s.db], env: env,
                           through: FakeTime.followingTheFile)
        var stepped = 0
        let watched = try await watch(s, p, total: 960) { accepted in
            if stepped == 0 && accepted >= 240 { stepped = 1; try "+2s\n".write(to: offset, atomically: true, encoding: .utf8) }
            if stepped == 1 && accepted >= 480 { stepped = 2; try "-18s\n".write(to: offset, atomically: true, encoding: .utf8) }
        }
        await s.running.stop()
        // The ideal: a full window at once, then 40 per 2 s.
        let ideal = Double(240 - 40) / 20
        print(String(format: "  clock-step (+2 s, then -20 s; SQLite, 4 accounts x 240 calls at 40/2s): makespan %.1f s "
                     + "(%.2fx ideal), longest stall %.1f s (window 2 s)", watched.seconds, watched.seconds / ideal,
                     watched.longestStill))
        try report(s, limit: 40, exit: p.terminationStatus)
    }

    /// Four accounts at 20/1s, 150 calls and 40 orders each, through a proxy that goes silent 4 s in;
    /// `--max-seconds 8`.
    func partition(server: String) async throws {
        let s = try await runner.setup(accounts: 4, limit: "20/1s", database: .postgres(server: server))
        try enqueueWork(s)
        guard var url = URLComponents(string: s.db), let port = url.port else { throw BenchError("bad URL \(s.db)") }
        let proxy = try SilentProxy(to: port)
        url.port = proxy.port
        let started = Date()
        let p = try launch(["run", "--drain", "--max-seconds", "8", "--db", url.string!], env: runner.environment)
        try await Task.sleep(for: .seconds(4))
        proxy.silence()
        let silencedAt = Date()
        try await waitForExit(p, seconds: 60)
        let stopped = Date().timeIntervalSince(silencedAt), ran = Date().timeIntervalSince(started)
        proxy.stop()
        let drain = try launch(["run", "--drain", "--max-seconds", "120", "--db", s.db], env: runner.environment)
        try await waitForExit(drain, seconds: 150)
        await s.running.stop()
        print(String(format: "  partition (PostgreSQL silent 4 s into a run, --max-seconds 8): the runner ended %.1f s "
                     + "after the silence (%.1f s after it started; target: within --max-seconds + 10 s), status %d; "
                     + "then a drain on a working connection", stopped, ran, p.terminationStatus))
        try report(s, limit: 20, exit: drain.terminationStatus)
    }

    /// The same work on a PostgreSQL server of our own, restarted (`pg_ctl restart -m fast`) 3 s into the run.
    func restart() async throws {
        let server = try PrivatePostgres()
        let s = try await runner.setup(accounts: 4, limit: "20/1s", database: .postgres(server: server.url))
        try enqueueWork(s)
        let started = Date()
        let p = try launch(["run", "--drain", "--max-seconds", "120", "--db", s.db], env: runner.environment)
        try await Task.sleep(for: .seconds(3))
        let restartedAt = Date()
        try server.restart()
        let down = Date().timeIntervalSince(restartedAt)
        try await waitForExit(p, seconds: 150)
        await s.running.stop()
        let ideal = Double(190 - 20) / 20
        print(String(format: "  restart (pg_ctl restart 3 s in, the server down %.1f s; 4 accounts x 190 calls at 20/1s): "
                     + "makespan %.1f s (%.2fx ideal)", down, Date().timeIntervalSince(started),
                     Date().timeIntervalSince(started) / ideal))
        try report(s, limit: 20, exit: p.terminationStatus)
    }

    private func enqueueWork(_ s: RunnerBenchmark.Setup) throws {
        for i in 0..<4 {
            try runner.enqueue(s, account: i, count: 150, retry: noise.retry)
            try noise.enqueueOrders(s, account: i, provider: Provider.allCases[i % 4], count: 40)
        }
    }

    /// Over the limit, lost, twice: read at the emulator and in the store.
    private func report(_ s: RunnerBenchmark.Setup, limit: Int, exit: Int32) throws {
        let stats = s.emulator.stats()
        let over = stats.accounts.map { max(0, $0.maxSentInWindow - limit) }.reduce(0, +)
        let refused = stats.accounts.map { $0.rejected["rate_limited"] ?? 0 }.reduce(0, +)
        let twice = stats.duplicatedCalls.keys.filter { $0.contains("once-") }.count
        var states: [CallState: Int] = [:]
        try s.store.results(run: nil) { states[$0.state, default: 0] += 1 }
        let lost = states.filter { !$0.key.isTerminal }.values.reduce(0, +)
        let shown = states.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
        print("    requests over the limit: \(over), refused as over: \(refused), calls lost: \(lost), orders twice: "
              + "\(twice) (targets 0); last runner's status \(exit); \(shown.joined(separator: " "))")
    }

    private func launch(_ arguments: [String], env: [String: String], through wrapper: [String] = []) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: wrapper.first ?? runner.pacer.path)
        p.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [runner.pacer.path] + arguments
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func waitForExit(_ p: Process, seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    /// Looks at the emulator every 50 ms until the process ends (at most 150 s): the makespan, and the longest
    /// time no request was accepted while work remained.
    private func watch(_ s: RunnerBenchmark.Setup, _ p: Process, total: Int,
                       each: (Int) throws -> Void) async throws -> (seconds: Double, longestStill: Double) {
        let started = Date()
        var last = 0, changed = Date(), longest = 0.0
        for _ in 0..<3_000 where p.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            let accepted = s.emulator.stats().accounts.map(\.accepted).reduce(0, +)
            if accepted != last {
                if last > 0 && last < total { longest = max(longest, Date().timeIntervalSince(changed)) }
                (last, changed) = (accepted, Date())
            }
            try each(accepted)
        }
        try await waitForExit(p, seconds: 10)
        return (Date().timeIntervalSince(started), longest)
    }
}
