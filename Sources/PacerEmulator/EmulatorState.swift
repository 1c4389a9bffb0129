import DequeModule
import PacerCore
import Synchronization

/// Everything the emulator remembers, behind one lock: per-account windows, stats and business state, the
/// fault settings and their generator, and the log of accepted logical calls.
final class EmulatorState: Sendable {
    struct AccountRuntime {
        let config: EmulatorConfig.AccountConfig
        var window: SlidingWindowLog
        /// Every authenticated request, admitted or not: what the client *sent* per window.
        var sent: SlidingWindowLog
        var maxAcceptedInWindow = 0
        var maxSentInWindow = 0
        /// This account's own faults and generator (`AccountConfig.faults`), instead of the emulator's.
        var random: SeededRandom?
        /// Requests of this account being served right now, and the most at once.
        var concurrent = 0
        var maxConcurrent = 0
        var accepted = 0
        var rejected: [String: Int] = [:]
        /// Bitunix nonces seen within the timestamp window, oldest first.
        var nonces = Set<String>()
        var nonceLog: Deque<(at: Int64, nonce: String)> = []
        /// Business state: order ids cancelled, client order ids placed.
        var cancelled = Set<String>()
        var placed: [String: String] = [:]
        /// How often an order with each client key was submitted (placed, or refused as a duplicate).
        var submitted: [String: Int] = [:]
        var nextOrderNumber = 1
        /// When the client sharing the quota (`otherClientPerWindow`) sends next.
        var otherClientNext: Int64?
        /// Its pools beside `window` (`AccountConfig.pools`).
        var pools: [PoolRuntime] = []
    }

    struct Inner {
        var accounts: [String: AccountRuntime] = [:]
        var faults: FaultSettings
        var random: SeededRandom
        /// Accepted logical calls (provider, account, method, path, canonical params) and how often each was done.
        var calls: [String: Int] = [:]
        /// Logical calls whose last try got an injected clock error: a spurious clock error is a blip, so the
        /// same call is not given a second one in a row (two in a row means a real key or clock problem).
        var clockFaulted = Set<String>()
        /// Public requests (no account: KuCoin's server time) per provider.
        var publicRequests: [String: Int] = [:]
        /// Pools several accounts share.
        var shared: [PoolRuntime] = []
    }

    let now: @Sendable () -> Int64
    private let inner: Mutex<Inner>

    init(config: EmulatorConfig, now: @escaping @Sendable () -> Int64) throws {
        self.now = now
        var inner = Inner(faults: config.faults, random: SeededRandom(seed: config.faults.seed))
        for account in config.accounts {
            guard let limit = RateLimit(parsing: account.limit) else {
                throw EmulatorError("account \(account.key): limit '\(account.limit)': expected \(RateLimit.expected)")
            }
            inner.accounts[Self.id(account.provider, account.key)] = AccountRuntime(
                config: account,
                window: SlidingWindowLog(limit: limit.count, windowMilliseconds: limit.windowMilliseconds),
                sent: SlidingWindowLog(limit: .max, windowMilliseconds: limit.windowMilliseconds),
                random: account.faults.map { SeededRandom(seed: $0.seed) },
                pools: try (account.pools ?? []).map(PoolRuntime.init))
        }
        inner.shared = try config.sharedPools.map(PoolRuntime.init)
        self.inner = Mutex(inner)
    }

    static func id(_ provider: Provider, _ key: String) -> String { "\(provider.rawValue)/\(key)" }

    func account(_ provider: Provider, key: String) -> EmulatorConfig.AccountConfig? {
        inner.withLock { $0.accounts[Self.id(provider, key)]?.config }
    }

    func reject(_ provider: Provider, key: String?, _ reason: Rejection) {
        guard let key else { return }
        inner.withLock { $0.accounts[Self.id(provider, key)]?.rejected[reason.rawValue, default: 0] += 1 }
    }

    /// Bitunix: a nonce may be used once within `windowMilliseconds`.
    func useNonce(_ provider: Provider, key: String, nonce: String, at now: Int64, windowMilliseconds: Int64) -> Bool {
        inner.withLock { state in
            guard var a = state.accounts[Self.id(provider, key)] else { return false }
            defer { state.accounts[Self.id(provider, key)] = a }
            while let first = a.nonceLog.first, now - first.at > windowMilliseconds {
                a.nonces.remove(first.nonce)
                a.nonceLog.removeFirst()
            }
            guard a.nonces.insert(nonce).inserted else { return false }
            a.nonceLog.append((now, nonce))
            return true
        }
    }

    enum Admission {
        case admitted(fault: Fault?)
        case limited(resetMilliseconds: Int64)
    }

    enum Fault { case rateLimit, clock, serverError, unavailable, drop, lostResponse, gatewayTimeout, slow(milliseconds: Int) }

    /// Counts the request as sent, admits it into the strict window and every pool it draws from if all have room
    /// for its weight (all or nothing, as a provider's gateway does), and draws a fault.
    func admit(_ provider: Provider, key: String, logicalCall: String, method: String = "GET", path: String = "/",
               at now: Int64) -> Admission {
        inner.withLock { state in
            let id = Self.id(provider, key)
            guard var a = state.accounts[id] else { return .limited(resetMilliseconds: 0) }
            defer { state.accounts[id] = a }
            let own = a.pools.indices.filter { a.pools[$0].config.applies(path: path) }
            let shared = state.shared.indices.filter { i in
                let c = state.shared[i].config
                return (c.provider ?? provider) == provider && (c.accounts?.contains(key) ?? true) && c.applies(path: path)
            }
            let sharedPools = state.shared
            let weight = own.compactMap { a.pools[$0].config.weight(method: method, path: path) }.first
                ?? shared.compactMap { sharedPools[$0].config.weight(method: method, path: path) }.first ?? 1
            a.maxSentInWindow = max(a.maxSentInWindow, a.sent.record(now: now, weight: weight))
            for i in own { a.pools[i].recordSent(path: path, weight: weight, now: now) }
            for i in shared { state.shared[i].recordSent(path: path, weight: weight, now: now) }
            Self.otherClientSends(&a, now: now)
            var wait: Int64? = a.window.fits(now: now, weight: weight) ? nil : a.window.resetsIn(now: now)
            for i in own {
                if let w = a.pools[i].wait(path: path, weight: weight, now: now) {
                    a.pools[i].refused += 1
                    wait = max(wait ?? 0, w)
                }
            }
            for i in shared {
                if let w = state.shared[i].wait(path: path, weight: weight, now: now) {
                    state.shared[i].refused += 1
                    wait = max(wait ?? 0, w)
                }
            }
            if let wait {
                a.rejected[Rejection.rateLimited.rawValue, default: 0] += 1
                return .limited(resetMilliseconds: wait)
            }
            _ = a.window.admit(now: now, weight: weight)
            for i in own { a.pools[i].admit(path: path, weight: weight, now: now) }
            for i in shared { state.shared[i].admit(path: path, weight: weight, now: now) }
            a.maxAcceptedInWindow = max(a.maxAcceptedInWindow, a.window.count)
            // An account with faults of its own draws them from its own generator: how many it gets does not
            // depend on how its requests interleave with other accounts'.
            let f = a.config.faults ?? state.faults
            var r = a.random ?? state.random
            defer { if a.random != nil { a.random = r } else { state.random = r } }
            // One draw per kind keeps each probability independent of the others' settings.
            let call = "\(id) \(logicalCall)"
            let clockAgain = state.clockFaulted.remove(call) != nil
            var fault: Fault? =
                r.chance(f.rateLimit) ? .rateLimit : r.chance(f.clock) ? .clock : r.chance(f.serverError) ? .serverError
                : r.chance(f.unavailable) ? .unavailable : r.chance(f.drop) ? .drop
                : r.chance(f.lostResponse) ? .lostResponse : r.chance(f.gatewayTimeout) ? .gatewayTimeout
                : r.chance(f.slow) ? .slow(milliseconds: f.slowMilliseconds) : nil
            if case .clock? = fault {
                if clockAgain { fault = nil } else { state.clockFaulted.insert(call) }
            }
            return .admitted(fault: fault)
        }
    }

    /// The other client's requests due by `now` take their places in the window (counted at `now`, so the log stays
    /// in time order; the runner sends often enough that this is close to their real spacing).
    static func otherClientSends(_ a: inout AccountRuntime, now: Int64) {
        guard let perWindow = a.config.otherClientPerWindow, perWindow > 0 else { return }
        let every = max(1, a.window.windowMilliseconds / Int64(perWindow))
        var next = a.otherClientNext ?? now
        // After a long idle gap only the last window's worth matters.
        next = max(next, now - a.window.windowMilliseconds)
        while next <= now {
            _ = a.window.admit(now: now)
            next += every
        }
        a.otherClientNext = next
    }

    /// The account's quota as KuCoin's `gw-ratelimit-*` headers state it: the limit, what is left in the window
    /// at `now`, and milliseconds until the oldest admission leaves it (a whole window when it is empty).
    /// With pools, the state of the first pool the path draws from (KuCoin's headers describe the endpoint's pool).
    func quota(_ provider: Provider, key: String, path: String = "/", now: Int64) -> (limit: Int, remaining: Int, reset: Int64)? {
        inner.withLock { state in
            let id = Self.id(provider, key)
            guard var a = state.accounts[id] else { return nil }
            defer { state.accounts[id] = a }
            if let i = a.pools.indices.first(where: { a.pools[$0].config.applies(path: path) }) {
                return a.pools[i].quota(path: path, now: now)
            }
            a.window.expire(now: now)
            return (a.window.limit, max(0, a.window.limit - a.window.count), a.window.resetsIn(now: now))
        }
    }

    /// Runs business logic on the account's state and records the logical call as done.
    func perform<T>(_ provider: Provider, key: String, logicalCall: String?,
                    _ body: (inout AccountRuntime) -> T) -> T {
        inner.withLock { state in
            let id = Self.id(provider, key)
            var a = state.accounts[id]!
            let result = body(&a)
            a.accepted += 1
            state.accounts[id] = a
            if let logicalCall { state.calls["\(id) \(logicalCall)", default: 0] += 1 }
            return result
        }
    }

    /// Draws whether this request travels slowly on its way in, and for how long.
    func inboundDelay() -> Int? {
        inner.withLock { state in
            guard state.faults.delayIn > 0 else { return nil }
            var r = state.random
            defer { state.random = r }
            return r.chance(state.faults.delayIn) ? state.faults.delayInMilliseconds : nil
        }
    }

    /// Marks a request of the account as being served (`entering`) or done, keeping the most at once.
    func track(_ provider: Provider, key: String, entering: Bool) {
        inner.withLock { state in
            let id = Self.id(provider, key)
            guard var a = state.accounts[id] else { return }
            a.concurrent += entering ? 1 : -1
            a.maxConcurrent = max(a.maxConcurrent, a.concurrent)
            state.accounts[id] = a
        }
    }

    /// Forgets the peaks seen so far (the most accepted and sent in one window), so a test can measure a
    /// stretch of a run on its own.
    func resetPeaks() {
        inner.withLock { state in
            for id in state.accounts.keys {
                state.accounts[id]?.maxAcceptedInWindow = 0
                state.accounts[id]?.maxSentInWindow = 0
                for i in state.accounts[id]!.pools.indices {
                    state.accounts[id]!.pools[i].maxAccepted = state.accounts[id]!.pools[i].limits.map { _ in 0 }
                    state.accounts[id]!.pools[i].maxSent = state.accounts[id]!.pools[i].limits.map { _ in 0 }
                }
            }
            for i in state.shared.indices {
                state.shared[i].maxAccepted = state.shared[i].limits.map { _ in 0 }
                state.shared[i].maxSent = state.shared[i].limits.map { _ in 0 }
            }
        }
    }

    /// Counts a public request (one no account signs).
    func countPublic(_ provider: Provider) {
        inner.withLock { $0.publicRequests[provider.rawValue, default: 0] += 1 }
    }

    func setFaults(_ faults: FaultSettings) {
        inner.withLock { state in
            state.faults = faults
            state.random = SeededRandom(seed: faults.seed)
        }
    }

    func snapshot() -> Inner { inner.withLock { $0 } }
}

public struct EmulatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
