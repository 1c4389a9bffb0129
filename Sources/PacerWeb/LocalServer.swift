import Hummingbird
import Logging
import ServiceLifecycle

/// A Hummingbird server started in the background: what `pacer web` and `pacer run --metrics-port` both serve on.
public enum LocalServer {
    public struct DidNotStart: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts serving `router` on `host:port` (port 0 picks a free one); returns the bound port and a function that
    /// stops the server gracefully.
    public static func start<Context: RequestContext>(_ router: Router<Context>, host: String, port: Int,
                                                       label: String) async throws -> (port: Int, stop: @Sendable () async -> Void)
        where Context: InitializableFromSource<ApplicationRequestContextSource> {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? port) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw DidNotStart(description: "\(label) did not start") }
        return (bound, { await group.triggerGracefulShutdown(); _ = try? await task.value })
    }
}
