import Foundation
import Hummingbird
import PacerWeb
import Prometheus

/// `pacer run --metrics-port P`: the runner's metrics in Prometheus text format at http://127.0.0.1:P/metrics.
public struct MetricsServer: Sendable {
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Starts serving on 127.0.0.1 (port 0 picks a free one); returns the bound port and a stop function.
    public func start(port: Int) async throws -> (port: Int, stop: @Sendable () async -> Void) {
        let router = Router()
        router.get("metrics") { [registry] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        return try await LocalServer.start(router, host: "127.0.0.1", port: port, label: "pacer.metrics")
    }
}
