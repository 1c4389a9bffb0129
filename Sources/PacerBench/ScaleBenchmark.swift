import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerStorage

/// Pacer at scale, against the in-process emulator on 127.0.0.1 with `pacer run` as a child process:
/// 1. memory: one account, `calls` queued calls (1,000,000 by default), a limit that never binds; RSS every 5 s;
/// 2. accounts: 1,000 accounts x 20 calls at 10/1s; makespan next to a bare client sending the same 20,000 requests;
/// 3. many: 10,000 accounts x 5 calls; completion and violations;
/// 4. idle: `pacer run` over 1,000 accounts with nothing queued; CPU seconds used in 10 s.
struct ScaleBenchmark {
    let runner = RunnerBenchmark()
    let calls: Int
    let parts: Set<String>

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: runner.pacer.path) else {
            throw BenchError("build the pacer binary first: swift build -c release --product pacer")
        }
        print("scale benchmark (emulator and pacer run on 127.0.0.1)")
        if parts.contains("memory") { try await memory() }
        if parts.contains("accounts") { try await accounts(count: 1_000, perAccount: 20) }
        if parts.contains("many") { try await accounts(count: 10_000, perAccount: 5, bare: false) }
        if parts.contains("idle") { try await idle() }
        if parts.contains("dashboard") { try await DashboardBenchmark(scale: self).run() }
    }

    /// Starts `pacer run` on `db` with `arguments`; stdout and stderr discarded.
    func launch(_ db: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = runner.pacer
        p.arguments = ["run", "--db", db] + arguments
        // PACER_BENCH_PERF=FILE: record a CPU profile of the runner (`perf report -i FILE`); PACER_BENCH_PERF_GRAPH
        // picks perf's call-graph method (`fp` by default; `dwarf,16384` sees through frames without pointers).
        let environment = ProcessInfo.processInfo.environment
        if let out = environment["PACER_BENCH_PERF"] {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/perf")
            p.arguments = ["record", "-F", "299", "--call-graph", environment["PACER_BENCH_PERF_GRAPH"] ?? "fp", "-o", out,
                           "--", runner.pacer.path] + p.arguments!
        }
        p.environment = runner.environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func rssMegabytes(_ pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }

    /// User plus system CPU seconds of this process (`RUSAGE_SELF`) or of its waited-for children.
    static func usage(_ who: __rusage_who) -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(who.rawValue), &u)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(u.ru_utime) + seconds(u.ru_stime)
    }

    /// User plus system CPU seconds of a process so far; with `children`, plus those of its exited, waited-for
    /// children. `named`: only if the process's name is this (nil otherwise).
    static func cpuSeconds(_ pid: Int32, children: Bool = false, named: String? = nil) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
              named.map({ stat[stat.index(after: open)..<close] == $0 }) ?? true else { return nil }
        // The fields after the name: utime and stime at 11 and 12, cutime and cstime at 13 and 14 (in ticks).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = (children ? 11...14 : 11...12).compactMap { fields.count > $0 ? Double(fields[$0]) : nil }
        return ticks.isEmpty ? nil : ticks.reduce(0, +) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func memory() async throws {
        let s = try await runner.setup(accounts: 1, limit: "100000000/1s")
        let enqueueStart = Date()
        try runner.enqueue(s, account: 0, count: calls)
        let enqueued = Date().timeIntervalSince(enqueueStart)
        let process = try launch(s.db, ["--drain", "--concurrency", "64", "--max-seconds", "3600"])
        let started = Date()
        var samples: [(Double, Double)] = []
        // Bounded: one sample every 5 s until the run ends, at most an hour.
        while process.isRunning && Date().timeIntervalSince(started) < 3_600 {
            for _ in 0..<50 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            if let rss = Self.rssMegabytes(process.processIdentifier) {
                samples.append((Date().timeIntervalSince(started), rss))
            }
        }
        process.waitUntilExit()
        let wall = Date().timeIntervalSince(started)
        await s.running.stop()
        let peak = samples.map(\.1).max() ?? 0
        let at10 = samples.first { $0.0 >= 10 }?.1 ?? samples.first?.1 ?? 0
        let growth = (samples.last?.1 ?? 0) - at10
        print(String(format: "  memory, %d calls on one account (enqueued in %.1f s), run in %.1f s = %.0f calls/s",
                     calls, enqueued, wall, Double(calls) / wall))
        print("    RSS every 5 s (MB): " + samples.map { String(format: "%.0f", $0.1) }.joined(separator: " "))
        print(String(format: "    peak %.1f MB (target <= 64), growth from 10 s to the end %.1f MB (target <= 8)", peak, growth))
    }

    func accounts(count: Int, perAccount: Int, bare: Bool = true) async throws {
        let n = 10
        let setupStart = Date()
        let s = try await runner.setup(accounts: count, limit: "\(n)/1s")
        for i in 0..<count { try runner.enqueue(s, account: i, count: perAccount) }
        let setupTime = Date().timeIntervalSince(setupStart)
        var bareBefore: Double?
        if bare {
            // The same number of requests from a bare client, spread over the accounts' signed Kookeey reads;
            // once before the run and once after, so a machine that speeds up or slows down meanwhile (these are
            // shared virtual machines) weighs on both sides alike.
            bareBefore = try await bareClient(s, requests: count * perAccount, concurrency: 64)
        }
        let start = Date()
        let (childrenBefore, selfBefore) = (Self.usage(RUSAGE_CHILDREN), Self.usage(RUSAGE_SELF))
        let process = try launch(s.db, ["--drain", "--concurrency", "64", "--max-seconds", "600"])
        process.waitUntilExit()
        let wall = Date().timeIntervalSince(start)
        let runnerCPU = Self.usage(RUSAGE_CHILDREN) - childrenBefore, emulatorCPU = Self.usage(RUSAGE_SELF) - selfBefore
        await s.running.stop()
        let stats = s.emulator.stats()
        let violating = stats.accounts.filter { $0.violated(limit: n) }
        let violations = violating.count
        for v in violating.prefix(3) {
            print("    over the limit: \(v.key) sent \(v.maxSentInWindow) in a window, refused \(v.rejected)")
        }
        let (done, firstSent, lastAnswer) = try await s.sqlite.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE state = 'succeeded'") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MIN(started_at) FROM attempts") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MAX(finished_at) FROM results") ?? 0)
        }
        let launched = Int64(start.timeIntervalSince1970 * 1000), ended = Int64((start.timeIntervalSince1970 + wall) * 1000)
        // At the limit each account needs (perAccount - n) / n seconds after its first window (none when all its
        // calls fit in one).
        let ideal = max(0, Double(perAccount - n) / Double(n))
        var line = String(format: "  %d accounts x %d calls at %d/1s (setup %.1f s): %d/%d succeeded in %.2f s "
                          + "(limits alone: %.1f s), violations %d (target 0)",
                          count, perAccount, n, setupTime, done, count * perAccount, wall, ideal, violations)
        if let bareBefore {
            let bareAfter = try await bareClient(s, requests: count * perAccount, concurrency: 64)
            let bareSeconds = (bareBefore + bareAfter) / 2
            line += String(format: "; bare client %.2f s before, %.2f s after; makespan / bare %.2f (target <= 2)",
                           bareBefore, bareAfter, wall / bareSeconds)
        }
        print(line)
        print(String(format: "    first request %d ms after launch, last answer %d ms before exit", firstSent - launched,
                     ended - lastAnswer))
        print(String(format: "    CPU during the run: pacer run %.2f s (%.0f µs a call), this process (the emulator) %.2f s",
                     runnerCPU, runnerCPU * 1e6 / Double(count * perAccount), emulatorCPU))
    }

    /// Seconds a bare client needs for `requests` signed Kookeey reads from `concurrency` tasks, against an
    /// emulator of its own (same code, one account whose limit never binds), so its figures stay out of the run's.
    func bareClient(_ s: RunnerBenchmark.Setup, requests: Int, concurrency: Int) async throws -> Double {
        let emulator = try Emulator(config: EmulatorConfig(accounts: [
            .init(provider: .kookeey, key: "bare", secret: "bare-secret", limit: "100000000/1s")]))
        let running = try await emulator.start()
        defer { Task { await running.stop() } }
        let transport = HTTPTransport(timeoutSeconds: 10, connectionsPerHost: concurrency)
        let signed = Kookeey().sign(APIRequest(method: .get, path: "/stock", params: [.init("g", .string("433"))]),
                                    baseURL: running.baseURL(.kookeey), credentials: Credentials(key: "bare", secret: "bare-secret"),
                                    inputs: SigningInputs(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), nonce: ""))
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<concurrency {
                let share = requests / concurrency + (t < requests % concurrency ? 1 : 0)
                group.addTask { for _ in 0..<share { _ = try await transport.send(signed) } }
            }
            try await group.waitForAll()
        }
        let elapsed = Date().timeIntervalSince(start)
        try await transport.shutdown()
        return elapsed
    }

    func idle() async throws {
        let s = try await runner.setup(accounts: 1_000, limit: "10/1s")
        let process = try launch(s.db, ["--max-seconds", "14"])
        try await Task.sleep(for: .seconds(3)) // started, registered, every account looked at once
        let before = Self.cpuSeconds(process.processIdentifier) ?? 0
        try await Task.sleep(for: .seconds(10))
        let after = Self.cpuSeconds(process.processIdentifier) ?? 0
        process.waitUntilExit()
        await s.running.stop()
        print(String(format: "  idle pacer run over 1,000 accounts: %.2f s of CPU in 10 s (target <= 0.5)", after - before))
    }
}
