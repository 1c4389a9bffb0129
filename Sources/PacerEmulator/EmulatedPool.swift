import PacerCore

/// A pool the emulator enforces beside an account's own `limit` (docs/pools.md): a provider's pool of some
/// endpoints (KuCoin's spot or management pool), a limit per endpoint (Bit-Z's per interface), or one several
/// accounts share (an egress IP). Configured by hand, from the provider's documents, never from Pacer's endpoint
/// tables: tests compare what Pacer does with what the emulator enforces.
public struct PoolConfig: Codable, Sendable, Equatable {
    public var name: String
    /// `COUNT/WINDOW`s that all hold.
    public var limits: [String]
    /// Paths (after the provider's prefix) that draw from it, by prefix; `nil`: every path.
    public var prefixes: [String]?
    /// `"METHOD /path"` -> weight (1 when not listed); `{...}` in a path matches any one segment.
    public var weights: [String: Int]?
    /// Counted per path: each endpoint its own pool of these limits.
    public var perPath: Bool?
    /// For a shared pool: the keys of the accounts that draw from it (`nil`: every account of its provider).
    public var accounts: [String]?
    /// For a shared pool: the provider whose accounts draw from it.
    public var provider: Provider?

    public init(name: String, limits: [String], prefixes: [String]? = nil, weights: [String: Int]? = nil,
                perPath: Bool? = nil, accounts: [String]? = nil, provider: Provider? = nil) {
        self.name = name
        self.limits = limits
        self.prefixes = prefixes
        self.weights = weights
        self.perPath = perPath
        self.accounts = accounts
        self.provider = provider
    }

    func applies(path: String) -> Bool { prefixes.map { $0.contains { path.hasPrefix($0) } } ?? true }

    /// The weight of `METHOD /path`: a key's `{...}` segment matches any one segment.
    func weight(method: String, path: String) -> Int? {
        guard let weights else { return nil }
        if let exact = weights["\(method) \(path)"] { return exact }
        let segments = path.split(separator: "/")
        return weights.first { key, _ in
            let parts = key.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0] == method else { return false }
            let pattern = parts[1].split(separator: "/")
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") || $0 == $1 }
        }?.value
    }

    func windows() throws -> [RateLimit] {
        try limits.map { text in
            guard let limit = RateLimit(parsing: text) else {
                throw EmulatorError("pool \(name): limit '\(text)': expected \(RateLimit.expected)")
            }
            return limit
        }
    }
}

/// One pool's windows as the emulator keeps them, per instance (one, or one per path), with what it admitted
/// and what was sent to it at most in one window.
struct PoolRuntime: Sendable {
    let config: PoolConfig
    let limits: [RateLimit]
    var windows: [String: [SlidingWindowLog]] = [:]
    var sent: [String: [SlidingWindowLog]] = [:]
    /// Per window of `limits`: the most weight admitted, and sent, in one window of any instance.
    var maxAccepted: [Int]
    var maxSent: [Int]
    var refused = 0

    init(_ config: PoolConfig) throws {
        self.config = config
        limits = try config.windows()
        maxAccepted = limits.map { _ in 0 }
        maxSent = limits.map { _ in 0 }
    }

    func instance(path: String) -> String { config.perPath == true ? path : "" }

    private func fresh() -> [SlidingWindowLog] {
        limits.map { SlidingWindowLog(limit: $0.count, windowMilliseconds: $0.windowMilliseconds) }
    }

    /// Records `weight` as sent at `now`, keeping the peak.
    mutating func recordSent(path: String, weight: Int, now: Int64) {
        let key = instance(path: path)
        var logs = sent[key] ?? limits.map { SlidingWindowLog(limit: .max, windowMilliseconds: $0.windowMilliseconds) }
        for i in logs.indices { maxSent[i] = max(maxSent[i], logs[i].record(now: now, weight: weight)) }
        sent[key] = logs
    }

    /// Whether `weight` fits every window now (nothing recorded); else the milliseconds until the fullest frees.
    mutating func wait(path: String, weight: Int, now: Int64) -> Int64? {
        let key = instance(path: path)
        var logs = windows[key] ?? fresh()
        defer { windows[key] = logs }
        var wait: Int64?
        for i in logs.indices where !logs[i].fits(now: now, weight: weight) {
            wait = max(wait ?? 0, logs[i].resetsIn(now: now))
        }
        return wait
    }

    /// Admits `weight` at `now` in every window (after `wait` said it fits).
    mutating func admit(path: String, weight: Int, now: Int64) {
        let key = instance(path: path)
        var logs = windows[key] ?? fresh()
        for i in logs.indices {
            _ = logs[i].admit(now: now, weight: weight)
            maxAccepted[i] = max(maxAccepted[i], logs[i].count)
        }
        windows[key] = logs
    }

    /// The first window's limit, what is left of it, and when it resets: KuCoin's `gw-ratelimit-*` headers.
    mutating func quota(path: String, now: Int64) -> (limit: Int, remaining: Int, reset: Int64) {
        let key = instance(path: path)
        var logs = windows[key] ?? fresh()
        logs[0].expire(now: now)
        windows[key] = logs
        return (logs[0].limit, max(0, logs[0].limit - logs[0].count), logs[0].resetsIn(now: now))
    }
}
