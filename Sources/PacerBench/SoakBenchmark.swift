import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerStorage

/// `pacer-bench soak` (run by scripts/soak.sh; minutes, not part of `swift test`): the emulator with faults on
/// every provider, 5,000 calls over 8 accounts (one in five an order that must never be sent twice), three
/// `pacer run` processes, one of them SIGKILLed and restarted at random moments `kills` times, then a final drain.
/// It checks from the emulator's side: every idempotent call reached the provider, no order twice, no window over
/// its limit, and every call ended. Every loop is bounded in count and time.
struct SoakBenchmark {
    let runner = RunnerBenchmark()
    var kills = 50
    let accounts = 8, perAccount = 625, limit = 20

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: runner.pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        var faults = FaultSettings()
        faults.seed = UInt64.random(in: 1...1_000_000)
        faults.rateLimit = 0.02
        faults.clock = 0.01
        faults.serverError = 0.02
        faults.unavailable = 0.01
        faults.drop = 0.01
        faults.lostResponse = 0.02
        faults.slow = 0.02
        faults.slowMilliseconds = 800
        say("soak (emulator and runners on 127.0.0.1; fault seed \(faults.seed))")
        let s = try await runner.setup(accounts: accounts, limit: "\(limit)/1s", faults: faults)
        let noise = NoiseBenchmark()
        for i in 0..<accounts {
            try runner.enqueue(s, account: i, count: perAccount * 4 / 5, retry: noise.retry)
            try noise.enqueueOrders(s, account: i, provider: Provider.allCases[i % 4], count: perAccount / 5)
        }
        let started = Date()
        let steady = try (0..<2).map { _ in try launch(s) }
        var killed = 0
        // The victim runs without --drain, so every kill finds it running (even once the queue is nearly empty).
        var victim = try launch(s, drain: false)
        // Bounded: `kills` kills, and at most 10 minutes.
        while killed < kills && Date().timeIntervalSince(started) < 600 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...900)))
            if victim.isRunning {
                kill(victim.processIdentifier, SIGKILL)
                killed += 1
            }
            victim.waitUntilExit()
            victim = try launch(s, drain: false)
        }
        victim.terminate() // a last, graceful stop; the final drain below finishes what is left
        let killedAt = Date().timeIntervalSince(started)
        let final = try launch(s)
        for p in steady + [victim, final] {
            let deadline = Date().addingTimeInterval(300)
            while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
        }
        let wall = Date().timeIntervalSince(started)
        await s.running.stop()

        let stats = s.emulator.stats()
        let states = try await s.sqlite.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT state, idempotent, COUNT(*) AS n FROM calls GROUP BY state, idempotent")
                .map { (state: $0["state"] as String, idempotent: $0["idempotent"] as Bool, n: $0["n"] as Int) }
        }
        let total = states.reduce(0) { $0 + $1.n }
        let unfinished = states.filter { !(CallState(rawValue: $0.state)?.isTerminal ?? false) }.reduce(0) { $0 + $1.n }
        // Every idempotent call reached the provider: its id ("a<account>-<n>") is in a logical call performed.
        let ids = try NSRegularExpression(pattern: "a[0-9]+-[0-9]+")
        var seen = Set<String>()
        for key in stats.calls.keys {
            for match in ids.matches(in: key, range: NSRange(key.startIndex..., in: key)) {
                if let range = Range(match.range, in: key) { seen.insert(String(key[range])) }
            }
        }
        let reached = (0..<accounts).reduce(0) { sum, i in
            sum + (0..<(perAccount * 4 / 5)).filter { seen.contains("a\(i)-\($0)") }.count
        }
        let idempotent = accounts * (perAccount * 4 / 5)
        let twiceKeys = stats.duplicatedCalls.keys.filter { $0.contains("once-") }.sorted()
        let twice = twiceKeys.count
        let over = stats.accounts.filter { $0.violated(limit: limit) }.count
        let byState = Dictionary(grouping: states, by: \.state).mapValues { $0.reduce(0) { $0 + $1.n } }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        say(String(format: "  %d calls over %d accounts, 3 runners, %d SIGKILLs in %.0f s, all done in %.0f s", total,
                     accounts, killed, killedAt, wall))
        say("  states: \(byState)")
        say("  idempotent calls that reached the provider: \(reached)/\(idempotent) (target: all)")
        say("  orders sent twice: \(twice) (target 0); windows over the limit: \(over) (target 0); calls not ended: \(unfinished) (target 0)")
        let ok = reached == idempotent && twice == 0 && over == 0 && unfinished == 0 && killed >= kills
        for key in twiceKeys.prefix(5) { say("    sent twice: \(key)") }
        say(ok ? "soak: all checks passed" : "soak: FAILED (database: \(s.db))")
        if !ok {
            FileHandle.standardError.write(Data("soak: a check failed (see above)\n".utf8))
            exit(1)
        }
    }

    /// Prints at once (a failing soak exits right after, and buffered output would be lost).
    func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// One `pacer run --drain` process (stderr kept quiet: a killed runner's half-written lines are expected).
    func launch(_ s: RunnerBenchmark.Setup, drain: Bool = true) throws -> Process {
        let p = Process()
        p.executableURL = runner.pacer
        p.arguments = ["run"] + (drain ? ["--drain"] : []) + ["--max-seconds", "600", "--db", s.db]
        p.environment = runner.environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}
