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

    /// Weight sent from one of the account's pools (`pool` as shown: `default`, `spot`, a shared pool's name).
    func poolSent(account: String, pool: String, weight: Int) {
        Counter(label: "pacer_pool_sent_weight_total", dimensions: [("account", account), ("pool", pool)], factory: factory)
            .increment(by: weight)
    }

    /// A pool's configured count per window (`window` as `1s`, `30s`), read with the accounts every second.
    func poolLimit(account: String, pool: String, window: String, count: Int) {
        Gauge(label: "pacer_pool_limit", dimensions: [("account", account), ("pool", pool), ("window", window)],
              factory: factory).record(count)
    }

    /// A rate-limit refusal charged to a pool.
    func poolRefused(account: String, pool: String) {
        Counter(label: "pacer_pool_refusals_total", dimensions: [("account", account), ("pool", pool)], factory: factory)
            .increment()
    }

    func queueDepth(account: String, calls: Int) {
        Gauge(label: "pacer_queue_depth", dimensions: [("account", account)], factory: factory).record(calls)
    }
}
