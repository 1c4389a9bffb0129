import ArgumentParser
import Foundation
import PacerCore
import PacerJobs
import PacerQueue
import PacerEmulator
import PacerRunner
import PacerOperations
import PacerProviders
import PacerStorage
import PacerSQLite

/// `pacer demo`: Pacer's main job on the embedded default, offline and with no credentials. It starts the local
/// emulator in-process on a free loopback port, registers the demo accounts against it, plans and queues the
/// demo's jobs (built in: `DemoScenario`; or the job files of `--jobs DIR`), sends them under each account's limit
/// with the live progress on a terminal, and ends with a summary checked against the emulator's own counts.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run example jobs against the local emulator, offline, and show the limits at work.")

    @Option(help: "The database file (default: a new one in a temporary folder).") var db: String?
    @Option(help: "A folder of job files to run instead of the built-in demo (quick: no faults, small jobs).")
    var jobs: String?

    /// Demo accounts: one per provider, named as the example jobs expect, limits as the providers publish them.
    static func accounts(baseURL: (Provider) -> String) -> [Account] {
        EmulatorConfig.demo.accounts.map { emulated in
            let p = emulated.provider
            return Account(
                name: "\(p.rawValue)-main", provider: p, baseURL: baseURL(p), limit: RateLimit(parsing: emulated.limit)!,
                credentials: CredentialReferences(key: emulated.key, secretEnv: "PACER_DEMO_\(p.rawValue.uppercased())_SECRET",
                                                  passphraseEnv: p.api.needsPassphrase ? "PACER_DEMO_KUCOIN_PASSPHRASE" : nil))
        }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("pacer-demo-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = db ?? folder.appendingPathComponent("demo.sqlite").path
        let files = try jobFiles(in: folder)

        let emulator = try Emulator(config: jobs == nil ? DemoScenario.emulator : .demo)
        let running = try await emulator.start()
        // The demo secrets exist only to sign requests to the emulator running in this process.
        for (provider, secret) in EmulatorConfig.demoSecrets {
            setenv("PACER_DEMO_\(provider.rawValue.uppercased())_SECRET", secret, 1)
        }
        setenv("PACER_DEMO_KUCOIN_PASSPHRASE", EmulatorConfig.demoPassphrase, 1)
        do {
            try await demo(files: files, path: path, emulator: emulator, running: running)
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }

    /// `--jobs`' YAML files, or the built-in demo's, written to `folder` so they are queued like a user's.
    private func jobFiles(in folder: URL) throws -> [String] {
        if let jobs {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: jobs)) ?? [])
                .filter { $0.hasSuffix(".yaml") }.sorted()
            guard !names.isEmpty else { throw CLIError("no job files (*.yaml) in '\(jobs)'") }
            return names.map { "\(jobs)/\($0)" }
        }
        let dir = folder.appendingPathComponent("jobs")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try DemoScenario.jobs.map { job in
            let file = dir.appendingPathComponent(job.file).path
            try job.text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    private func demo(files: [String], path: String, emulator: Emulator, running: RunningEmulator) async throws {
        let store = try SQLiteStore(path: path)
        for account in Self.accounts(baseURL: running.baseURL) {
            try store.addAccount(account, replace: true, nowMilliseconds: WallClock.nowMilliseconds())
        }
        let enqueuer = Enqueuer(store: store, nowMilliseconds: WallClock.nowMilliseconds)
        let specs = try files.map { file throws(JobFileError) in try JobFileParser.parse(file: file) }
        let plan = try enqueuer.plan(specs: specs)
        let runs = try enqueuer.enqueue(specs: specs)
        print("pacer demo: the four APIs' emulator on 127.0.0.1:\(running.port), offline; database \(path)")
        if jobs == nil { print("job files: \(URL(fileURLWithPath: files[0]).deletingLastPathComponent().path)") }
        for r in runs {
            let limit = plan.runs.first { $0.job == r.job && $0.account == r.account }?.limit.description ?? "?"
            print("  queued \(r.job) on \(r.account): \(r.calls) calls at \(limit)")
        }
        print(String(format: "the limits alone need about %.1f s (pacer plan); sending...\n",
                     Double(plan.etaMilliseconds) / 1000))

        var options = RunnerOptions()
        options.drain = true
        options.maxSeconds = 50
        let transport = HTTPTransport()
        let started = Date()
        let summary = try await Runner(store: store, transport: transport, options: options).run()
        try await transport.shutdown()
        let took = Date().timeIntervalSince(started)

        let told = Self.summary(stats: emulator.stats(), accounts: try store.accounts(), summary: summary,
                                seconds: took, plannedMilliseconds: plan.etaMilliseconds)
        print(told.text)
        let report = try store.status()
        let buckets = try StatusView.buckets(store, report, now: WallClock.nowMilliseconds())
        print(StatusCommand.table(report, buckets: buckets), terminator: "")
        print("")
        print("next: pacer results --db \(path)")
        print("      pacer web --db \(path)      (the dashboard, on http://127.0.0.1:8090)")
        if !summary.held.isEmpty { throw CLIError("paused accounts hold calls: \(summary.held.keys.sorted())") }
        if !told.allHeld { throw CLIError("a limit was broken (see the table above): please report this") }
    }

    /// What happened, in words, checked against the emulator's own counts; and whether every limit held.
    static func summary(stats: EmulatorStats, accounts: [Account], summary: Runner.Summary, seconds: Double,
                        plannedMilliseconds: Int64) -> (text: String, allHeld: Bool) {
        let calls = summary.ended.values.reduce(0, +)
        var lines = [String(format: "done: %d calls (%d tries) in %.1f s; the plan said %.1f s for the limits alone",
                            calls, summary.finished, seconds, Double(plannedMilliseconds) / 1000), ""]
        var table = TextTable(["ACCOUNT", "LIMIT", "MOST IN ONE WINDOW", "HELD", "REFUSED", "COOL-DOWNS", "LOOKUPS"])
        var allHeld = true
        for account in accounts {
            guard let seen = stats.accounts.first(where: { $0.key == account.credentials.key }) else { continue }
            let held = !seen.violated(limit: account.limit.count)
            allHeld = allHeld && held
            let refused = seen.rejected.filter { $0.key.contains("rate_limit") }.values.reduce(0, +)
            table.add([account.name, account.limit.description, "\(seen.maxSentInWindow)", held ? "yes" : "NO",
                       "\(refused)", "\(summary.coolDowns[account.name] ?? 0)", "\(summary.lookups[account.name] ?? 0)"])
        }
        lines.append(table.render().trimmingCharacters(in: .newlines))
        lines.append("")
        lines.append(allHeld
            ? "every limit held: no account sent more than its limit in any window (counted by the emulator)"
            : "A LIMIT WAS BROKEN: an account sent more than its limit in a window (counted by the emulator)")
        let coolDowns = summary.coolDowns.values.reduce(0, +)
        if coolDowns > 0 {
            lines.append("\(coolDowns) refusal(s) cooled their account down; its calls waited and went on")
        }
        let lookups = summary.lookups.values.reduce(0, +)
        if lookups > 0 {
            let twice = stats.accounts.reduce(0) { $0 + $1.keySubmissions.values.filter { $0 > 1 }.count }
            let placed = stats.accounts.reduce(0) { $0 + $1.orderKeys.count }
            lines.append("\(lookups) order(s) whose answer was lost were looked up by their key instead of being "
                         + "placed again: \(placed) orders placed, \(twice) key(s) the provider saw twice")
        }
        return (lines.joined(separator: "\n") + "\n", allHeld)
    }
}
