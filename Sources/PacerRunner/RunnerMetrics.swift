import CoreMetrics

/// What the runner reports through swift-metrics: calls by account and outcome, sends, limiter waits,
/// cool-downs, attempt latency and queue depth. The factory is passed in (Prometheus for `--metrics-port`, no-op
/// otherwise) rather than bootstrapped globally, so tests and several runners in one process do not collide.
public struct RunnerMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) { self.factory = factory }

    func finished(account: String, outcome: String) {
        Counter(label: "pacer_calls_total", dimensions: [("account", account), ("outcome", outcome)], factory: factory)
            .increment()
    }

    func sent(account: String) {
        Counter(label: "pacer_sends_total", dimensions: [("account", account)], factory: factory).increment()
    }

    func limiterWait(account: String) {
        Counter(label: "pacer_limiter_waits_total", dimensions: [("account", account)], factory: factory).increment()
    }

    func coolDown(account: String) {
        Counter(label: "pacer_cooldowns_total", dimensions: [("account", account)], factory: factory).increment()
    }

    func latency(account: String, milliseconds: Int64) {
        Timer(label: "pacer_attempt_latency_seconds", dimensions: [("account", account)], factory: factory)
            .recordMilliseconds(milliseconds)
    }

    func queueDepth(account: String, calls: Int) {
        Gauge(label: "pacer_queue_depth", dimensions: [("account", account)], factory: factory).record(calls)
    }
}
