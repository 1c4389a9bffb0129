import Foundation
import PacerCore
import PacerLimits
import PacerProviders
import PacerStorage

/// Each account's limiter as a token bucket: capacity (the limit, or less while paced down after rate-limit
/// answers), tokens spent in the current window (each returns one window after it was spent), cool-down.
public struct AccountBucket: Sendable, Equatable {
    public var capacity: Int
    public var spent: Int
    public var windowMilliseconds: Int64
    public var cooldownUntil: Int64?
    /// Calls finished per second over the last minute.
    public var rate: Double = 0
}

/// One pool's fill: each window's limit and the weight spent in it now, and a cool-down (on the caller's clock).
public struct PoolView: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        public var limit: RateLimit
        public var spent: Int
        /// The count in force: the limit's, or less while the pool is paced down (its shortest window only).
        public var capacity: Int
    }
    /// Its name as shown (`default` for an account's default pool).
    public var pool: String
    /// The account it belongs to; `nil` for a shared pool.
    public var account: String?
    public var windows: [Window]
    public var cooldownUntil: Int64?
    /// Kept once per endpoint (Bit-Z's `interface`): each endpoint has these windows; `spent` is not summed
    /// over them (0 here), and the history shows each endpoint.
    public var perEndpoint = false
}

/// What `status` shows of the limiter: each account's primary pool as a bucket (the table's column), and every
/// pool with each of its windows.
public struct LimiterView: Sendable, Equatable {
    public var buckets: [String: AccountBucket] = [:]
    public var pools: [PoolView] = []
}

/// `status --json` and the dashboard's `GET /api/status`: the same shape from one place.
public enum StatusView {
    /// The limiter's state for the report's accounts and the shared pools they name, in one read of every pool.
    public static func limiter(_ store: any PacerStore, _ report: StatusReport, now: Int64) throws -> LimiterView {
        let recent = try store.finishedSince(now - 60_000)
        let known = Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0) })
        let shared = try store.sharedPools()
        var keys: [String: PoolWindows] = [:]
        var order: [(key: String, pool: String, account: String?, limits: [RateLimit], perEndpoint: Bool)] = []
        func add(_ key: String, _ pool: String, _ account: String?, _ limits: [RateLimit], perEndpoint: Bool = false) {
            guard keys[key] == nil else { return }
            keys[key] = PoolWindows(limits.map { .init(count: $0.count, milliseconds: $0.bucketWindowMilliseconds()) })
            order.append((key, pool, account, limits, perEndpoint))
        }
        var named = Set<String>()
        for a in report.accounts {
            guard let account = known[a.account] else { continue }
            let perEndpoint = account.provider.api.endpoints.perEndpointPools
            for pool in account.limits.pools {
                add(PoolKey.own(account: a.account, pool: pool.name), PoolKey.display(pool.name), a.account, pool.windows,
                    perEndpoint: perEndpoint.contains(pool.name))
            }
            named.formUnion(account.limits.shared)
        }
        for pool in shared where named.contains(pool.name) { add(PoolKey.shared(pool.name), pool.name, nil, pool.windows) }
        let states = try store.poolStates(keys, nowMilliseconds: now)
        var view = LimiterView()
        for entry in order {
            guard let state = states[entry.key] else { continue }
            // The pacing's instants are on the store's clock; the cool-down's end is shown on ours.
            let cooling = state.pacing.cooldownUntil > state.now
            let windows = keys[entry.key]!.windows
            view.pools.append(PoolView(
                pool: entry.pool, account: entry.account,
                windows: entry.limits.indices.map { i in
                    PoolView.Window(limit: entry.limits[i], spent: state.spent[i],
                                    capacity: i == 0 ? state.pacing.capacity(now: state.now, windowMilliseconds: windows[0].milliseconds)
                                                     : entry.limits[i].count)
                },
                cooldownUntil: cooling ? state.pacing.cooldownUntil - state.now + now : nil, perEndpoint: entry.perEndpoint))
        }
        for a in report.accounts {
            guard let account = known[a.account] else { continue }
            let primary = account.limits.defaultPool ?? account.limits.pools[0]
            guard let pool = view.pools.first(where: { $0.account == a.account && $0.pool == PoolKey.display(primary.name) })
            else { continue }
            view.buckets[a.account] = AccountBucket(capacity: pool.windows[0].capacity, spent: pool.windows[0].spent,
                                                    windowMilliseconds: primary.windows[0].bucketWindowMilliseconds(),
                                                    cooldownUntil: pool.cooldownUntil,
                                                    rate: Double(recent[a.account] ?? 0) / 60)
        }
        return view
    }

    /// Each account's primary pool as a bucket (see `limiter`).
    public static func buckets(_ store: any PacerStore, _ report: StatusReport, now: Int64) throws -> [String: AccountBucket] {
        try limiter(store, report, now: now).buckets
    }

    public static func counts(_ counts: [CallState: Int]) -> JSONValue {
        .object(CallState.allCases.map { .init($0.rawValue, .number(String(counts[$0] ?? 0))) })
    }

    public static func json(_ report: StatusReport, limiter: LimiterView, brokenSchedules: [ScheduleRecord] = []) -> JSONValue {
        guard case .object(var members) = json(report, buckets: limiter.buckets, brokenSchedules: brokenSchedules) else {
            return .null
        }
        members.append(.init("pools", .array(limiter.pools.map { p in
            .object([
                .init("pool", .string(p.pool)), .init("account", p.account.map(JSONValue.string) ?? .null),
                .init("windows", .array(p.windows.map { w in
                    .object([.init("limit", .string(w.limit.description)), .init("spent", .number(String(w.spent))),
                             .init("capacity", .number(String(w.capacity)))])
                })),
                .init("cooldown_until", p.cooldownUntil.map { .string(Timestamps.iso8601($0)) } ?? .null),
                .init("per_endpoint", .bool(p.perEndpoint)),
            ])
        })))
        return .object(members)
    }

    public static func json(_ report: StatusReport, buckets: [String: AccountBucket] = [:],
                            brokenSchedules: [ScheduleRecord] = []) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("runs", .array(report.runs.map { r in
                .object([.init("run", .number(String(r.run))), .init("job", .string(r.job)),
                         .init("account", .string(r.account)), .init("counts", counts(r.counts))])
            })),
            .init("accounts", .array(report.accounts.map { a in
                var members: [JSONValue.Member] = [
                    .init("account", .string(a.account)), .init("paused", .bool(a.paused)),
                    .init("reason", a.pausedReason.map(JSONValue.string) ?? .null), .init("counts", counts(a.counts))]
                if let b = buckets[a.account] {
                    members.append(.init("bucket", .object([
                        .init("capacity", .number(String(b.capacity))), .init("spent", .number(String(b.spent))),
                        .init("window_ms", .number(String(b.windowMilliseconds))),
                        .init("rate_per_second", .number(String(format: "%.3f", b.rate))),
                        .init("cooldown_until", b.cooldownUntil.map { .string(Timestamps.iso8601($0)) } ?? .null),
                    ])))
                }
                return .object(members)
            })),
        ]
        if !brokenSchedules.isEmpty {
            members.append(.init("schedule_errors", .array(brokenSchedules.map { s in
                .object([.init("job", .string(s.job)), .init("error", .string(s.lastError ?? ""))])
            })))
        }
        return .object(members)
    }
}
