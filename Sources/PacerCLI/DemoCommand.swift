import ArgumentParser
import Foundation
import PacerCore
import PacerStore

/// `pacer demo`: Pacer's main job on the embedded default, offline, with no credentials.
///
/// Today it registers the four demo accounts (pointing at the local emulator's loopback address), enqueues every
/// example in `jobs/` and prints the status table. Sending the queue needs the runner, which is still to come;
/// the command says so rather than pretending.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Register demo accounts, queue the example jobs and show the status.")

    @Option(help: "The database file (default: a new temporary one).") var db: String?
    @Option(help: "The folder of example job files.") var jobs = "jobs"
    @Option(help: "The emulator's port on 127.0.0.1 the demo accounts point at.") var port = 8088

    /// Demo accounts: one per provider, named as the example jobs expect, limits as the providers publish them.
    static func accounts(port: Int) -> [Account] {
        let base = "http://127.0.0.1:\(port)"
        func refs(_ p: String, passphrase: Bool = false) -> CredentialReferences {
            CredentialReferences(key: "demo-\(p)-key", secretEnv: "PACER_DEMO_\(p.uppercased())_SECRET",
                                 passphraseEnv: passphrase ? "PACER_DEMO_KUCOIN_PASSPHRASE" : nil)
        }
        return [
            Account(name: "kookeey-main", provider: .kookeey, baseURL: "\(base)/kookeey",
                    limit: RateLimit(count: 10, windowMilliseconds: 1_000), credentials: refs("kookeey")),
            Account(name: "kucoin-main", provider: .kucoin, baseURL: "\(base)/kucoin",
                    limit: RateLimit(count: 4_000, windowMilliseconds: 30_000),
                    credentials: refs("kucoin", passphrase: true)),
            Account(name: "bitunix-main", provider: .bitunix, baseURL: "\(base)/bitunix",
                    limit: RateLimit(count: 10, windowMilliseconds: 1_000), credentials: refs("bitunix")),
            Account(name: "bitz-main", provider: .bitz, baseURL: "\(base)/bitz",
                    limit: RateLimit(count: 30, windowMilliseconds: 1_000), credentials: refs("bitz")),
        ]
    }

    func run() throws {
        let path = db ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("pacer-demo-\(ProcessInfo.processInfo.processIdentifier).sqlite").path
        let store = try SQLiteStore(path: path)
        for account in Self.accounts(port: port) {
            try store.addAccount(account, replace: true, nowMilliseconds: WallClock.nowMilliseconds())
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: jobs).filter { $0.hasSuffix(".yaml") }.sorted()
        guard !files.isEmpty else { throw CLIError("no example job files (*.yaml) in '\(jobs)'") }
        let runs = try Enqueuer(store: store, nowMilliseconds: WallClock.nowMilliseconds)
            .enqueue(files: files.map { "\(jobs)/\($0)" })
        print("database: \(path)")
        for r in runs { print("queued run \(r.run): \(r.job) on \(r.account), \(r.calls) calls") }
        print("")
        print(StatusCommand.table(try store.status()), terminator: "")
        print("""

            Sending a queue needs the runner (`pacer run`), which is not built yet; the queue above is what it
            will drain. Inspect it with `pacer status --db \(path)` and `pacer results --db \(path)`.
            One call by hand, against the local emulator (`pacer sandbox` in another terminal):
              PACER_DEMO_KOOKEEY_SECRET=demo-kookeey-token pacer call kookeey-main GET /stock g=433 --db \(path)
            """)
    }
}
