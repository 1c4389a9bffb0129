import PacerCore

/// What the emulator saw, for tests and benchmarks: per account, what was accepted and refused (by reason), the
/// most requests accepted — and sent — in any one window, and every accepted logical call with how often it was
/// performed (exactly-once means every count is 1).
public struct EmulatorStats: Codable, Sendable, Equatable {
    public struct Account: Codable, Sendable, Equatable {
        public var provider: String
        public var key: String
        public var limit: String
        public var accepted: Int
        public var rejected: [String: Int]
        public var maxAcceptedInWindow: Int
        public var maxSentInWindow: Int
        /// The most requests of this account being served at once.
        public var maxConcurrent: Int
        /// Orders placed, with or without a client key, and the order each client key placed.
        public var ordersPlaced: Int
        public var orderKeys: [String: String]
        /// How often an order with each client key was submitted: more than once means a re-send the provider's
        /// dedupe had to stop.
        public var keySubmissions: [String: Int]
        /// Its pools (`AccountConfig.pools`).
        public var pools: [Pool] = []
    }

    /// What one pool saw: per window of `limits`, the most weight admitted and sent in one window (of any of its
    /// instances, for a pool kept per path), and the requests it refused.
    public struct Pool: Codable, Sendable, Equatable {
        public var name: String
        public var limits: [String]
        public var maxAcceptedInWindow: [Int]
        public var maxSentInWindow: [Int]
        public var refused: Int

        /// More was sent in one window than a limit allows, or the pool refused a request.
        public var violated: Bool {
            refused > 0 || zip(limits, maxSentInWindow).contains { RateLimit(parsing: $0)!.count < $1 }
        }
    }

    public var accounts: [Account]
    /// "provider/key METHOD path params" -> times performed.
    public var calls: [String: Int]
    /// Public requests (KuCoin's server time) per provider: metered per IP by the provider, so a client sends
    /// them under its limit too.
    public var publicRequests: [String: Int] = [:]
    /// Pools several accounts share.
    public var sharedPools: [Pool] = []

    public func account(_ key: String) -> Account? { accounts.first { $0.key == key } }
    public var duplicatedCalls: [String: Int] { calls.filter { $0.value > 1 } }
}

extension EmulatorState {
    func stats() -> EmulatorStats {
        let inner = snapshot()
        return EmulatorStats(
            accounts: inner.accounts.values.sorted { $0.config.key < $1.config.key }.map { a in
                EmulatorStats.Account(provider: a.config.provider.rawValue, key: a.config.key, limit: a.config.limit,
                                      accepted: a.accepted, rejected: a.rejected,
                                      maxAcceptedInWindow: a.maxAcceptedInWindow, maxSentInWindow: a.maxSentInWindow,
                                      maxConcurrent: a.maxConcurrent, ordersPlaced: a.nextOrderNumber - 1,
                                      orderKeys: a.placed, keySubmissions: a.submitted, pools: a.pools.map(\.stats))
            },
            calls: inner.calls, publicRequests: inner.publicRequests, sharedPools: inner.shared.map(\.stats))
    }
}

extension PoolRuntime {
    var stats: EmulatorStats.Pool {
        EmulatorStats.Pool(name: config.name, limits: config.limits, maxAcceptedInWindow: maxAccepted,
                           maxSentInWindow: maxSent, refused: refused)
    }
}

extension EmulatorStats.Account {
    /// The account broke its limit of `limit` per window: the emulator saw more in one window, or refused a call
    /// as over the limit (injected refusals are counted apart). What the benchmarks and the demo check.
    public func violated(limit: Int) -> Bool {
        maxSentInWindow > limit || (rejected["rate_limited"] ?? 0) > 0
    }
}
