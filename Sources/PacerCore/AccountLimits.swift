/// An account's limits as its provider defines them (docs/pools.md): its own pools, each one or more windows that
/// all hold, and the shared pools it draws from as well. The pool named `""` is the default pool, which the single
/// `--limit COUNT/WINDOW` of earlier versions sets; an account given only named pools has none.
public struct AccountLimits: Sendable, Equatable {
    /// One pool of this account: a name (`""` for the default pool) and its windows, shortest first.
    public struct Pool: Sendable, Equatable {
        public var name: String
        public var windows: [RateLimit]

        public init(name: String, windows: [RateLimit]) {
            self.name = name
            self.windows = windows.sorted { $0.windowMilliseconds < $1.windowMilliseconds }
        }
    }

    /// The account's own pools, the default pool (if any) first, then the named ones by name.
    public private(set) var pools: [Pool]
    /// The shared pools (`pacer pool add`) the account also draws from, by name.
    public private(set) var shared: [String]

    public init(pools: [Pool], shared: [String] = []) {
        precondition(!pools.isEmpty && pools.allSatisfy { !$0.windows.isEmpty }, "an account has at least one limit")
        self.pools = pools.sorted { ($0.name.isEmpty ? 0 : 1, $0.name) < ($1.name.isEmpty ? 0 : 1, $1.name) }
        self.shared = Array(Set(shared)).sorted()
    }

    /// One window on the default pool: the limits of an account before pools.
    public init(_ limit: RateLimit) { self.init(pools: [Pool(name: "", windows: [limit])]) }

    public var defaultPool: Pool? { pools.first { $0.name.isEmpty } }
    public func pool(named name: String) -> Pool? { pools.first { $0.name == name } }

    /// The limit shown where one is shown (a table column, the plan's estimate): the default pool's shortest
    /// window, else the first named pool's.
    public var primary: RateLimit { (defaultPool ?? pools[0]).windows[0] }

    /// The text `--limit` options give (and the store keeps): `10/1s;100/20s;spot=40/3s`.
    public var text: String {
        pools.flatMap { pool in pool.windows.map { pool.name.isEmpty ? "\($0)" : "\(pool.name)=\($0)" } }
            .joined(separator: ";")
    }

    /// Parses `--limit` values (each `COUNT/WINDOW` for the default pool or `POOL=COUNT/WINDOW`; a pool named
    /// twice has several windows). Throws a message naming the value and what was expected.
    public init(parsing values: [String], shared: [String] = []) throws(LimitsError) {
        var windows: [String: [RateLimit]] = [:], order: [String] = []
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let (name, limitText) = parts.count == 2 ? (parts[0].trimmingWhitespace(), parts[1]) : ("", parts[0])
            if parts.count == 2, !Self.isValidPoolName(name) {
                throw LimitsError(value: value, expected: "a pool name of letters, digits, '-', '_' or '.' before '='")
            }
            guard let limit = RateLimit(parsing: limitText) else {
                throw LimitsError(value: value, expected: RateLimit.expected + ", or POOL=COUNT/WINDOW")
            }
            if windows[name]?.contains(where: { $0.windowMilliseconds == limit.windowMilliseconds }) == true {
                throw LimitsError(value: value, expected: "one count per window of a pool")
            }
            if windows[name] == nil { order.append(name) }
            windows[name, default: []].append(limit)
        }
        guard !order.isEmpty else { throw LimitsError(value: "", expected: "at least one limit") }
        for name in shared where !Self.isValidPoolName(name) {
            throw LimitsError(value: name, expected: "a shared pool's name of letters, digits, '-', '_' or '.'")
        }
        self.init(pools: order.map { Pool(name: $0, windows: windows[$0]!) }, shared: shared)
    }

    /// Pool names share the alphabet of account names, so a pool's key (`PoolKey`) is never ambiguous.
    public static func isValidPoolName(_ name: String) -> Bool { Account.isValidName(name) && name != "default" }
}

/// A `--limit` value that cannot be read.
public struct LimitsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var value: String
    public var expected: String
    public var description: String { value.isEmpty ? "expected \(expected)" : "'\(value)': expected \(expected)" }
}
