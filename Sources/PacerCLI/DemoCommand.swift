import ArgumentParser
import Foundation
import PacerCore
import PacerQueue
import PacerEmulator
import PacerRunner
import PacerOperations
import PacerProviders
import PacerStorage
import PacerSQLite

/// `pacer demo`: Pacer's main job on the embedded default, offline and with no credentials. It starts the local
/// emulator in-process on a free loopback port, registers the demo accounts against it, enqueues every example in
/// `jobs/`, runs them to completion under each account's limit, and prints the status table.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the example jobs against the local emulator, offline, and show the status.")

    @Option(help: "The database file (default: a new temporary one).") var db: String?
    @Option(help: "The folder of example job files.") var jobs = "jobs"

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
        let path = db ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("pacer-demo-\(ProcessInfo.processInfo.processIdentifier).sqlite").path
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: jobs)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
        guard !files.isEmpty else { throw CLIError("no example job files (*.yaml) in '\(jobs)'; run from the repository root") }

        let emulator = try Emulator(config: .demo)
        let running = try await emulator.start()
        // The demo secrets exist only to sign requests to the emulator running in this process.
        for (provider, secret) in EmulatorConfig.demoSecrets {
            setenv("PACER_DEMO_\(provider.rawValue.uppercased())_SECRET", secret, 1)
        }
        setenv("PACER_DEMO_KUCOIN_PASSPHRASE", EmulatorConfig.demoPassphrase, 1)
        do {
            let store = try SQLiteStore(path: path)
            for account in Self.accounts(baseURL: running.baseURL) {
                try store.addAccount(account, replace: true, nowMilliseconds: WallClock.nowMilliseconds())
            }
            let runs = try Enqueuer(store: store, nowMilliseconds: WallClock.nowMilliseconds)
                .enqueue(files: files.map { "\(jobs)/\($0)" })
            print("pacer demo: emulator on 127.0.0.1:\(running.port), database \(path)")
            for r in runs { print("  queued run \(r.run): \(r.job) on \(r.account), \(r.calls) calls") }
            var options = RunnerOptions()
            options.drain = true
            options.maxSeconds = 50
            let transport = HTTPTransport()
            let summary = try await Runner(store: store, transport: transport, options: options).run()
            try await transport.shutdown()
            print("")
            let report = try store.status()
            let buckets = try StatusView.buckets(store, report, now: WallClock.nowMilliseconds())
            print(StatusCommand.table(report, buckets: buckets), terminator: "")
            print("")
            if !summary.held.isEmpty { throw CLIError("paused accounts hold calls: \(summary.held.keys.sorted())") }
            print("results: pacer results --db \(path)")
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
