import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `pacer run --metrics-port P`: the runner's metrics in Prometheus text format at http://127.0.0.1:P/metrics.
public struct MetricsServer: Sendable {
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Starts serving on 127.0.0.1 (port 0 picks a free one); returns the bound port and a stop function.
    public func start(port: Int) async throws -> (port: Int, stop: @Sendable () async -> Void) {
        var logger = Logger(label: "pacer.metrics")
        logger.logLevel = .warning
        let router = Router()
        router.get("metrics") { [registry] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? port) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CLIError("the metrics server did not start") }
        return (bound, { await group.triggerGracefulShutdown(); _ = try? await task.value })
    }
}
