import ArgumentParser
import Foundation
import PacerRunner
import PacerWeb
import UnixSignals

/// `pacer web`: the dashboard and its JSON API (see `Dashboard`).
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "Serve the dashboard and its JSON API.",
        discussion: "Bound to 127.0.0.1 by default. The API answers 401 to a request without `Authorization: Bearer "
            + "TOKEN`: the token is --token-env's (required for any other host), else a random one printed in the page's "
            + "address (http://127.0.0.1:PORT/#token=...).")

    @OptionGroup var store: StoreOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0 picks a free one).") var port = 8090
    @Option(name: .customLong("token-env"), help: "Environment variable holding the API token.") var tokenEnv: String?

    func run() async throws {
        var token: String?
        if let tokenEnv {
            guard let value = ProcessInfo.processInfo.environment[tokenEnv], !value.isEmpty else {
                throw CLIError("--token-env \(tokenEnv): the variable is not set or empty")
            }
            token = value
        }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        guard loopback || token != nil else {
            throw CLIError("--host \(host) is not loopback: give --token-env VAR so that only holders of the token can act")
        }
        // Even on loopback the API wants a token: other local users, and web pages (DNS rebinding), reach
        // 127.0.0.1 too. Without --token-env a random one is made for this run and printed in the page's address.
        let secret = token ?? Nonce.random(length: 32) // letters and digits from the system's generator
        let dashboard = Dashboard(store: try store.open(), token: secret, now: { WallClock.nowMilliseconds() })
        let (bound, stop) = try await dashboard.start(host: host, port: port)
        // Written at once (not buffered): scripts and tests wait for this line to know the port. A token of the
        // operator's own is not printed.
        let address = "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/"
        FileHandle.standardOutput.write(Data("pacer web: \(address)\(token == nil ? "#token=\(secret)" : "")\n".utf8))
        // Serve until SIGINT or SIGTERM.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await _ in signals { break }
        await stop()
    }
}
