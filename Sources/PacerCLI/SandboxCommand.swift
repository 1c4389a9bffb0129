import ArgumentParser
import Foundation
import PacerCore
import PacerEmulator
import UnixSignals

/// `pacer sandbox`: the local emulator of the four APIs as a process, until SIGINT or SIGTERM.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox", abstract: "Run the local emulator of the four APIs on 127.0.0.1.")

    @Option(help: "The port on 127.0.0.1 (0 picks a free one).") var port = 8088
    @Option(help: "A JSON emulator config (accounts, limits, faults); default: the demo accounts.") var config: String?

    func run() async throws {
        let settings: EmulatorConfig
        if let config {
            do { settings = try EmulatorConfig.load(path: config) } catch {
                throw CLIError("--config '\(config)': \(error)")
            }
        } else {
            settings = .demo
        }
        let emulator = try Emulator(config: settings)
        try await emulator.run(port: port, shutdownSignals: [.sigint, .sigterm]) { bound in
            var lines = ["pacer sandbox listening on 127.0.0.1:\(bound)"]
            for provider in Provider.allCases {
                lines.append("  \(provider.rawValue): http://127.0.0.1:\(bound)/\(provider.rawValue)")
            }
            lines.append("  stats: http://127.0.0.1:\(bound)/_emulator/stats   faults: PUT /_emulator/faults")
            if config == nil {
                lines.append("demo credentials (export these for the demo accounts):")
                for provider in Provider.allCases {
                    lines.append("  PACER_DEMO_\(provider.rawValue.uppercased())_SECRET=\(EmulatorConfig.demoSecrets[provider]!)")
                }
                lines.append("  PACER_DEMO_KUCOIN_PASSPHRASE=\(EmulatorConfig.demoPassphrase)")
            }
            lines.append("stop with Ctrl-C (SIGINT) or SIGTERM")
            // Written straight to the file descriptor: a script waiting for these lines must not wait on a buffer.
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        print("pacer sandbox stopped")
    }
}
