/// The spend decision for a batch of requests (several accounts, or one account several times), made in order at
/// one `now`: which calls may leave, when the rest may be tried, and which cool-down probes were taken. Pure: the
/// store supplies each pool's pacing and held weight per window (one read each for the whole batch) and, only when
/// a call does not fit, the pool's spends (`readLog`). Every store runs this same decision (docs/internals.md,
/// docs/pools.md).
///
/// A call draws its weight from every pool it names, in every window of each, all or nothing: it goes only when
/// each has room, and then spends from each. Within a want, a call that cannot go holds back the later calls of
/// the pools it lacks (first come, first served per pool), so a heavy call is never overtaken forever by light
/// ones, while calls of other pools go on.
public struct SpendBatch {
    /// Tokens wanted for some of an account's calls, in order.
    public struct Want: Sendable {
        public var account: String
        public var calls: [PoolCall]
        /// At most this many calls are granted; nil: as many as fit.
        public var maxGranted: Int?

        public init(account: String, calls: [PoolCall], maxGranted: Int? = nil) {
            self.account = account
            self.calls = calls
            self.maxGranted = maxGranted
        }
    }

    /// What one want got.
    public struct Decision: Sendable {
        /// The calls that may leave now, in order (to be marked dispatched and spent in each of their pools).
        public var fitting: [PoolCall]
        /// When the first call that did not fit may be tried (`nil`: all fit, or `maxGranted` were granted and the
        /// rest were not looked at); while a probe goes, when to look again for its answer.
        public var retryAt: Int64?
        /// When to look again should the probe not go after all (its lease was lost before it was marked): a new
        /// probe may then be taken at once.
        public var retryAtWithoutProbe: Int64?
        /// The pools whose cool-down probe one of the fitting calls is, and the pacing to save once it is spent.
        public var probing: [String: Pacing]
    }

    /// Decides `wants` in order at `now`. `limits` has every pool the calls name, `pacings` each pool's pacing
    /// (its configured count set to the shortest window's), `held` the weight each pool holds in each window at
    /// `now`. A later want sees the calls fitted before it as spent.
    public static func decide(_ wants: [Want], now: Int64, limits: [String: PoolWindows], pacings: [String: Pacing],
                              held: [String: [Int]],
                              readLog: (_ pool: String, _ since: Int64) throws -> [WindowBudget.Spend]) rethrows
        -> [Decision] {
        var buckets: [String: [SpendBucket]] = [:]
        var pacings = pacings
        var decisions: [Decision] = []
        func bucketsOf(_ pool: String) -> [SpendBucket] {
            if let found = buckets[pool] { return found }
            let pacing = pacings[pool]!, windows = limits[pool]!.windows
            let cooling = pacing.cooldownUntil > now ? pacing.cooldownUntil : nil
            return windows.indices.map { i in
                // The learned pace applies to the shortest window (docs/pools.md); the others hold as configured.
                let capacity = i == 0 ? pacing.capacity(now: now, windowMilliseconds: windows[0].milliseconds)
                                      : windows[i].count
                return SpendBucket(budget: WindowBudget(capacity: capacity, windowMilliseconds: windows[i].milliseconds),
                                   cooldownUntil: cooling, held: held[pool]?[i] ?? 0)
            }
        }
        for want in wants {
            var fitting: [PoolCall] = [], blocked: [String: Int64] = [:], probing: [String: Pacing] = [:]
            var capped = false // stopped at `maxGranted`: the caller comes back for the rest as soon as it can
            for call in want.calls where !call.pools.contains(where: { blocked[$0] != nil }) {
                if let most = want.maxGranted, fitting.count >= most { capped = true; break }
                // Cooling pools: nothing leaves, unless this call may be the probe of each.
                var waits: [String: Int64] = [:], probes: [String: Pacing] = [:]
                for pool in call.pools {
                    let first = bucketsOf(pool)[0]
                    switch first.coolDownGate(call.id, pacing: pacings[pool]!, now: now) {
                    case .wait(let until)?: waits[pool] = until
                    case .probe(let taken)?: probes[pool] = taken
                    case nil: break
                    }
                }
                if !waits.isEmpty {
                    blocked.merge(waits) { max($0, $1) }
                    continue
                }
                // Room in every window of every pool, or the instant each lacking pool has it.
                var lacking: [String: Int64] = [:]
                for pool in call.pools {
                    var windows = bucketsOf(pool)
                    for i in windows.indices {
                        let since = now - windows[i].budget.windowMilliseconds
                        if let until = try windows[i].wait(for: call.weight, now: now, readLog: { try readLog(pool, since) }) {
                            lacking[pool] = max(lacking[pool] ?? until, until)
                        }
                    }
                    buckets[pool] = windows
                }
                if !lacking.isEmpty {
                    blocked.merge(lacking) { max($0, $1) }
                    continue
                }
                for pool in call.pools {
                    var windows = bucketsOf(pool)
                    for i in windows.indices { windows[i].spent(weight: call.weight, at: now) }
                    buckets[pool] = windows
                }
                for (pool, taken) in probes {
                    // The probe is out: the rest of its pool waits for its answer, which ends the cool-down (the
                    // worker that sent it wakes at the answer), or for the cool-down's end.
                    pacings[pool] = taken
                    probing[pool] = taken
                    blocked[pool] = taken.cooldownUntil
                }
                fitting.append(call)
            }
            let retryAt = capped ? nil : blocked.values.min()
            decisions.append(Decision(fitting: fitting, retryAt: retryAt,
                                      retryAtWithoutProbe: probing.isEmpty ? retryAt : now, probing: probing))
        }
        return decisions
    }
}

/// A call as the limiter sees it: its id, its weight, and the keys of the pools it draws from (`PoolKey`).
public struct PoolCall: Sendable, Equatable {
    public var id: Int64
    public var weight: Int
    public var pools: [String]

    public init(id: Int64, weight: Int, pools: [String]) {
        self.id = id
        self.weight = weight
        self.pools = pools
    }
}

/// A pool's windows as the limiter holds them: each count, and how long a spent token stays spent (the provider's
/// window plus the safety margin), shortest first.
public struct PoolWindows: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        public var count: Int
        public var milliseconds: Int64
        public init(count: Int, milliseconds: Int64) {
            self.count = count
            self.milliseconds = milliseconds
        }
    }
    public var windows: [Window]

    public init(_ windows: [Window]) {
        precondition(!windows.isEmpty, "a pool has a window")
        self.windows = windows.sorted { $0.milliseconds < $1.milliseconds }
    }

    /// The configured count of the window the pace is learned on (the shortest).
    public var configured: Int { windows[0].count }
    /// The longest window: how far back a pool's spends matter.
    public var longest: Int64 { windows.map(\.milliseconds).max()! }
}
