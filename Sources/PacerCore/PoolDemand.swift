/// Which pools a call asks to draw from, before an account's pools are known: the names an endpoint table or a
/// job's `pool:` gives. Stored with each call (`calls.pools`) and resolved against the account's pools when the
/// call is spent, so a change of the account's pools reaches calls already queued (docs/pools.md).
public struct PoolDemand: Sendable, Equatable, Hashable {
    /// Pool names; `""` is the default pool. A name `NAME:ENDPOINT` is the account's pool `NAME` kept once per
    /// endpoint (Bit-Z's 30 per second *per interface*).
    public var names: [String]
    /// The provider meters the endpoint per IP address only (KuCoin's public endpoints): it draws from the
    /// account's shared pools alone, when it has any.
    public var ipOnly: Bool

    public init(names: [String] = [""], ipOnly: Bool = false) {
        self.names = names.isEmpty ? [""] : names
        self.ipOnly = ipOnly
    }

    /// The default pool alone: what a call drew from before pools.
    public static let `default` = PoolDemand()

    /// The stored form: names separated by spaces (the default pool as `-`), `!ip` first when IP-only; `nil` for
    /// the default demand.
    public var text: String? {
        self == .default ? nil : ((ipOnly ? ["!ip"] : []) + names.map { $0.isEmpty ? "-" : $0 }).joined(separator: " ")
    }

    public init(text: String?) {
        guard let text else { self.init(); return }
        let words = text.split(separator: " ").map(String.init)
        self.init(names: words.filter { $0 != "!ip" }.map { $0 == "-" ? "" : $0 }, ipOnly: words.contains("!ip"))
    }

    /// The pool a name draws from in an account's own pools (`NAME` of `NAME:ENDPOINT`).
    static func base(_ name: String) -> String { String(name.prefix { $0 != ":" }) }
}

/// Where a pool's tokens live in the limiter: one key per pool, in the spends' and pacings' `account` column.
/// The default pool keeps the account's own name (so an account's spends from before pools still count), a
/// named pool is `ACCOUNT/NAME`, a shared pool `@NAME` (names never hold `/` or `@`).
public enum PoolKey {
    public static func own(account: String, pool: String) -> String { pool.isEmpty ? account : "\(account)/\(pool)" }
    public static func shared(_ name: String) -> String { "@\(name)" }
    /// A pool's name as shown (`status`, the dashboard's history): the default pool is `default`.
    public static func display(_ name: String) -> String { name.isEmpty ? "default" : name }
}

/// One pool a call draws from: its key and its windows.
public struct PoolDraw: Sendable, Equatable {
    public var key: String
    /// The pool's name as a person gives it (`""` default, `spot`, `interface:/Trade/x`, a shared pool's name).
    public var name: String
    public var shared: Bool
    public var windows: [RateLimit]

    public init(key: String, name: String, shared: Bool, windows: [RateLimit]) {
        self.key = key
        self.name = name
        self.shared = shared
        self.windows = windows
    }
}

extension AccountLimits {
    /// The pools a call of `account` asking `demand` draws from: each named pool the account has (else its
    /// default pool), then every shared pool it names (`sharedPools` gives their windows; one removed meanwhile
    /// is skipped). An IP-only endpoint draws from the shared pools alone when there are any. `unresolved` lists
    /// the names that found neither their pool nor a default pool: enqueue refuses them; a runner finding one
    /// (the account's pools changed since) draws from every pool of the account rather than from none.
    public func draws(account: String, demand: PoolDemand, sharedPools: [String: [RateLimit]])
        -> (draws: [PoolDraw], unresolved: [String]) {
        let sharedDraws = shared.compactMap { name in
            sharedPools[name].map { PoolDraw(key: PoolKey.shared(name), name: name, shared: true, windows: $0) }
        }
        if demand.ipOnly && !sharedDraws.isEmpty { return (sharedDraws, []) }
        var own: [PoolDraw] = [], unresolved: [String] = []
        for name in demand.names {
            let draw: PoolDraw
            if !name.isEmpty, let pool = pool(named: PoolDemand.base(name)) {
                draw = PoolDraw(key: PoolKey.own(account: account, pool: name), name: name, shared: false,
                                windows: pool.windows)
            } else if let pool = defaultPool {
                draw = PoolDraw(key: account, name: "", shared: false, windows: pool.windows)
            } else {
                unresolved.append(name)
                continue
            }
            if !own.contains(where: { $0.key == draw.key }) { own.append(draw) }
        }
        if own.isEmpty && !unresolved.isEmpty {
            own = pools.map { PoolDraw(key: PoolKey.own(account: account, pool: $0.name), name: $0.name, shared: false,
                                       windows: $0.windows) }
        }
        return (own + sharedDraws, unresolved)
    }
}
