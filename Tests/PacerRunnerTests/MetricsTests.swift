import Foundation
import PacerCLI
import PacerCore
import PacerProviders
@testable import PacerRunner
import Prometheus
import Testing

/// `--metrics-port`: after a small run, the endpoint serves the counters with the right values.
@Suite(.serialized) struct MetricsTests {
    @Test func aScrapeAfterASmallRunShowsTheCounts() async throws {
        let h = try await RunnerHarness(configured: "5/1s")
        // 5 at once, the rest over two more windows: the worker waits on the limiter however slow the machine.
        try h.enqueue(.kookeey, count: 15)
        try h.enqueue(.bitz, count: 4)
        let registry = PrometheusCollectorRegistry()
        let server = try await MetricsServer(registry: registry).start(port: 0)
        _ = try await h.runInProcess(metrics: RunnerMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        let transport = HTTPTransport(timeoutSeconds: 5)
        let reply = try await transport.send(SignedRequest(method: .get, url: "http://127.0.0.1:\(server.port)/metrics",
                                                           headers: [], body: nil))
        try await transport.shutdown()
        await server.stop()
        await h.stop()
        let text = String(decoding: reply.body, as: UTF8.self)
        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect(reply.status == 200)
        #expect(value(#"pacer_calls_total{account="kookeey",outcome="succeeded"}"#) == 15, "\(text)")
        #expect(value(#"pacer_calls_total{account="bitz",outcome="succeeded"}"#) == 4)
        #expect(value(#"pacer_sends_total{account="kookeey"}"#) == 15)
        #expect((value(#"pacer_limiter_waits_total{account="kookeey"}"#) ?? 0) >= 1)
        #expect(value(#"pacer_queue_depth{account="kookeey"}"#) == 0)
        #expect(value(#"pacer_attempt_latency_seconds_count{account="kookeey"}"#) == 15)
        // Each pool's weight sent and configured count.
        #expect(value(#"pacer_pool_sent_weight_total{account="kookeey",pool="default"}"#) == 15)
        #expect(value(#"pacer_pool_limit{account="kookeey",pool="default",window="1s"}"#) == 5)
    }
}

@Suite struct RedactionTests {
    @Test func transportErrorsLoseTheSignedParts() {
        let request = SignedRequest(method: .get, url: "https://kookeey.com/stock?accessid=1&ts=1&signature=ABCDEFGHIJ%3D%3D",
                                    headers: [.init("KC-API-SIGN", "c2lnbmF0dXJlLXZhbHVl"), .init("nonce", "n")], body: nil)
        let text = AccountWorker.redacted(
            "timeout GET https://kookeey.com/stock?accessid=1&ts=1&signature=ABCDEFGHIJ%3D%3D with c2lnbmF0dXJlLXZhbHVl", request)
        #expect(!text.contains("ABCDEFGHIJ") && !text.contains("c2lnbmF0dXJlLXZhbHVl"))
        #expect(text.contains("<redacted>") && text.contains("kookeey.com/stock"))
    }
}
