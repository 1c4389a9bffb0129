import PacerCore
import PacerLimits

/// The limiter, written once for every store: spends, reservations, refusals, quotas, probes and clock offsets.
/// Each event is one transaction the store opens (`limiterTransaction`: it serialises the accounts' limiter
/// writes across processes); inside it the rows are read in a few batched statements, the decision is Swift's
/// (PacerLimits: `SpendBatch`, `Pacing`), and the outcome is written back in a few more. The number of
/// statements does not grow with the number of accounts in a batch (docs/internals.md).
extension PacerStore {
    /// Spends the accounts' tokens for as many of each request's calls (in order) as their windows allow, marking
    /// each granted call dispatched, in one durable transaction shared by every process. Requests are decided in
    /// order with one `now`, read once the locks are held; each spend stays open (holding its tokens) until the
    /// call's completion settles it. Throws `runnerDeclaredDead` when `runner` is not registered.
    public func spend(_ requests: [SpendRequest], runner: String, now clock: () -> Int64) throws -> [SpendGrant] {
        guard !requests.isEmpty else { return [] }
        var limits: [String: PoolWindows] = [:]
        for request in requests { limits.merge(request.pools) { first, _ in first } }
        let pools = limits.keys.sorted()
        // Every pool the batch draws from is locked: a shared pool spans accounts and runners.
        return try limiterTransaction(accounts: pools, runner: runner, access: .durableWrite) { rows in
            let now = try rows.now(clock)
            let stored = try rows.pacings(pools)
            var pacings: [String: Pacing] = [:]
            for pool in pools { pacings[pool] = stored[pool].pacing(configured: limits[pool]!.configured) }
            let held = try heldWeights(rows, limits, pools: pools, now: now)
            let decisions = try SpendBatch.decide(
                requests.map { SpendBatch.Want(account: $0.account, calls: $0.calls, maxGranted: $0.maxGranted) },
                now: now, limits: limits,
                pacings: pacings, held: held, readLog: { try rows.spendLog(pool: $0, since: $1) })
            // One statement marks every fitting call dispatched, one records the spends of those still ours: a
            // spend per pool each call draws from.
            let fitting = decisions.flatMap(\.fitting)
            let marked = fitting.isEmpty ? [] : try rows.markDispatched(fitting.map(\.id), runner: runner, at: now)
            try rows.insertSpends(fitting.filter { marked.contains($0.id) }.flatMap { call in
                call.pools.map { NewSpend(pool: $0, call: call.id, at: now, weight: call.weight, open: true,
                                          owner: runner, sentAt: now) }
            })
            var probes: [String: Pacing] = [:]
            let grants = decisions.map { decision -> SpendGrant in
                let granted = decision.fitting.map(\.id).filter { marked.contains($0) }
                // A probe whose lease was lost did not go: nothing waits for its answer.
                let probed = decision.fitting.filter { call in
                    marked.contains(call.id) && call.pools.contains { decision.probing[$0]?.probeCall == call.id }
                }
                for call in probed { for pool in call.pools { probes[pool] = decision.probing[pool] ?? probes[pool] } }
                let probeLost = probed.count < decision.fitting.filter { call in
                    call.pools.contains { decision.probing[$0]?.probeCall == call.id }
                }.count
                return SpendGrant(granted: granted, retryAt: probeLost ? decision.retryAtWithoutProbe : decision.retryAt,
                                  lost: decision.fitting.map(\.id).filter { !marked.contains($0) }, at: now,
                                  probes: Set(probed.map(\.id)))
            }
            if !probes.isEmpty { try rows.savePacings(probes) }
            // Settled spends long out of the window no longer matter: trim them now and then (open ones never).
            let trim = pools.filter { _ in Int.random(in: 0..<64) == 0 }
            if !trim.isEmpty {
                try rows.deleteSettledSpends(before: Dictionary(uniqueKeysWithValues: trim.map {
                    ($0, now - WindowBudget.keepSettledMilliseconds(windowMilliseconds: limits[$0]!.longest))
                }))
            }
            return grants
        }
    }

    /// What each pool holds in each of its windows at `now`, in one read.
    private func heldWeights(_ rows: any LimiterRows, _ limits: [String: PoolWindows], pools: [String],
                             now: Int64) throws -> [String: [Int]] {
        let asked = pools.flatMap { pool in limits[pool]!.windows.map { (pool: pool, since: now - $0.milliseconds) } }
        let sums = try rows.heldWeights(asked)
        var held: [String: [Int]] = [:]
        for (query, sum) in zip(asked, sums) { held[query.pool, default: []].append(sum) }
        return held
    }

    /// One account's spend (see `spend(_:runner:now:)`).
    public func spend(account: String, calls: [(id: Int64, weight: Int)], runner: String, now: () -> Int64,
                      windowMilliseconds: Int64, configuredCount: Int) throws -> SpendGrant {
        try spend([SpendRequest(account: account, calls: calls, windowMilliseconds: windowMilliseconds,
                                configuredCount: configuredCount)], runner: runner, now: now)[0]
    }

    /// Spends tokens for a call outside the queue (`pacer call`) from every pool in `pools`, owned by the
    /// registered runner `owner`: all of them or none.
    public func reserve(pools: [String: PoolWindows], weight: Int, owner: String,
                        now clock: () -> Int64) throws -> Reservation {
        let keys = pools.keys.sorted()
        return try limiterTransaction(accounts: keys, runner: owner, access: .durableWrite) { rows in
            let now = try rows.now(clock)
            var wait: Int64?
            for key in keys {
                let limit = pools[key]!
                let pacing = try rows.pacing(key, configured: limit.configured)
                let log = try rows.spendLog(pool: key, since: now - limit.longest)
                for (i, window) in limit.windows.enumerated() {
                    let decision = i == 0
                        ? pacing.admits(weight: weight, now: now, windowMilliseconds: window.milliseconds, log: log)
                        : WindowBudget(capacity: window.count, windowMilliseconds: window.milliseconds)
                            .decide(weight: weight, now: now, log: log)
                    if case .wait(let until) = decision { wait = max(wait ?? until, until) }
                }
            }
            if let wait { return .wait(until: wait) }
            let ids = try keys.map {
                try rows.insertSpend(NewSpend(pool: $0, call: nil, at: now, weight: weight, open: true, owner: owner,
                                              sentAt: now))
            }
            return .spent(id: ids[0], also: Array(ids.dropFirst()))
        }
    }

    /// `reserve(pools:...)` from an account's one pool.
    public func reserve(account: String, weight: Int, owner: String, now clock: () -> Int64, windowMilliseconds: Int64,
                        configuredCount: Int) throws -> Reservation {
        try reserve(pools: [account: PoolWindows([.init(count: configuredCount, milliseconds: windowMilliseconds)])],
                    weight: weight, owner: owner, now: clock)
    }

    /// The answer to a reserved spend arrived at `answeredAt`: its tokens come back a window after that (on
    /// PostgreSQL's clock, "now": later than it arrived, which only holds the token longer).
    public func settle(spends: [Int64], answeredAt: Int64) throws {
        try limiterTransaction(accounts: [], runner: nil, access: .write) { rows in
            let at = try rows.now { answeredAt }
            for spend in spends { try rows.settleSpend(spend, at: at) }
        }
    }

    public func settle(spend: Int64, answeredAt: Int64) throws { try settle(spends: [spend], answeredAt: answeredAt) }

    /// The account's limiter state (its default pool), for the runner and `status`.
    public func pacing(account: String, nowMilliseconds: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> AccountPacing {
        try limiterTransaction(accounts: [], runner: nil, access: .read) { rows in
            let now = try rows.now { nowMilliseconds }
            let stored = try rows.pacings([account])[account]
            let held = try rows.held(account, since: now - windowMilliseconds)
            return AccountPacing(pacing: stored.pacing(configured: configuredCount),
                                 clockOffsetMilliseconds: stored?.clockOffsetMilliseconds ?? 0, spentInWindow: held,
                                 now: now)
        }
    }

    /// Each pool's pacing and the weight it holds in each window at "now" (`status`, the dashboard), in one read.
    public func poolStates(_ pools: [String: PoolWindows], nowMilliseconds: Int64) throws -> [String: PoolState] {
        guard !pools.isEmpty else { return [:] }
        return try limiterTransaction(accounts: [], runner: nil, access: .read) { rows in
            let now = try rows.now { nowMilliseconds }
            let keys = pools.keys.sorted()
            let stored = try rows.pacings(keys)
            let held = try heldWeights(rows, pools, pools: keys, now: now)
            var states: [String: PoolState] = [:]
            for key in keys {
                states[key] = PoolState(pacing: stored[key].pacing(configured: pools[key]!.configured),
                                        spent: held[key] ?? [], now: now)
            }
            return states
        }
    }

    /// A rate-limit answer to `call`, sent by `runner` at `sentAt`, on the account's default pool (one window of
    /// `windowMilliseconds`, `configuredCount`): see `recordRateLimit(account:pools:...)`.
    public func recordRateLimit(account: String, call: Int64, runner: String, sentAt: Int64, nowMilliseconds: Int64,
                                retryAfterMilliseconds: Int64?, windowMilliseconds: Int64, configuredCount: Int,
                                accepted: AcceptedPeak.Evidence? = nil) throws {
        _ = try recordRateLimit(account: account,
                                pools: [RefusedPool(key: account, name: "", windowMilliseconds: windowMilliseconds,
                                                    configuredCount: configuredCount)],
                                call: call, runner: runner, sentAt: sentAt, nowMilliseconds: nowMilliseconds,
                                retryAfterMilliseconds: retryAfterMilliseconds, accepted: accepted.map { [account: $0] } ?? [:])
    }

    /// A rate-limit answer to `call`, sent by `runner` at `sentAt`, drawing from `pools`. The provider's code does
    /// not say which pool refused: the refusal is charged to the pool whose window was fullest for its capacity
    /// when the call left (the first on a tie: the endpoint's own pool), and to any pool the call was the probe
    /// of (docs/pools.md). What that window held before the call is evidence of the provider's real limit, weighed
    /// against what the provider accepted lately (`accepted`, the runner's own view per pool; every runner's
    /// settled answers are read here once a burst). See `Pacing`. Returns the pools charged.
    public func recordRateLimit(account: String, pools: [RefusedPool], call: Int64, runner: String, sentAt: Int64,
                                nowMilliseconds: Int64, retryAfterMilliseconds: Int64?,
                                accepted: [String: AcceptedPeak.Evidence] = [:]) throws -> [RefusedPool] {
        guard !pools.isEmpty else { return [] }
        return try limiterTransaction(accounts: pools.map(\.key), runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            let stored = try rows.pacings(pools.map(\.key))
            // What each window held before the refused call left: "before" by spend order (ids grow as spends are
            // made), not by instant, which an answer moves forward; "in the window" by when each was sent.
            var weighed: [(pool: RefusedPool, pacing: Pacing, fill: Int, weight: Int, load: Double)] = []
            for pool in pools {
                let pacing = stored[pool.key].pacing(configured: pool.configuredCount)
                let spend = try rows.latestSpend(call: call, owner: runner, pool: pool.key)
                let fill = try rows.weightSent(pool: pool.key, after: sentAt - pool.windowMilliseconds,
                                               beforeSpend: spend?.id ?? Int64.max)
                let weight = spend?.weight ?? 1
                let capacity = max(1, pacing.capacity(now: now, windowMilliseconds: pool.windowMilliseconds))
                weighed.append((pool, pacing, fill, weight, Double(fill + weight) / Double(capacity)))
            }
            let fullest = weighed.indices.max { weighed[$0].load < weighed[$1].load || (weighed[$0].load == weighed[$1].load && $0 > $1) }!
            var charged: [RefusedPool] = []
            for (index, entry) in weighed.enumerated() where index == fullest || entry.pacing.probeCall == call {
                var pacing = entry.pacing
                let window = entry.pool.windowMilliseconds
                let coolingUntil = pacing.cooldownUntil
                // Read once a burst: a burst of hundreds of refusals must not read two windows of spends each time.
                let settled = pacing.sameBurst(sentAt: sentAt) ? nil : try rows.acceptedSpends(
                    pool: entry.pool.key, after: sentAt - AcceptedPeak.lateWindows * window, through: now)
                pacing.refused(now: now, sentAt: sentAt, fill: entry.fill, weight: entry.weight,
                               retryAfterMilliseconds: retryAfterMilliseconds, windowMilliseconds: window,
                               accepted: accepted[entry.pool.key], settledAccepted: settled, call: call)
                try rows.savePacings([entry.pool.key: pacing])
                if pacing.cooldownUntil > max(coolingUntil, now) {
                    try rows.noteCoolDown(account: account, pool: entry.pool.name, from: now, until: pacing.cooldownUntil)
                }
                charged.append(entry.pool)
            }
            return charged
        }
    }

    /// The provider accepted `call`, sent as the cool-down probe of one of `pools` (`SpendGrant.probe`; the
    /// account's default pool when nil): the cool-down of each pool it was the probe of ends.
    public func probeAccepted(account: String, pools: [(key: String, name: String)]? = nil, call: Int64,
                              nowMilliseconds: Int64, configuredCount: Int) throws {
        let pools = pools ?? [(account, "")]
        try limiterTransaction(accounts: pools.map(\.key), runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            let stored = try rows.pacings(pools.map(\.key))
            var ended: [String: Pacing] = [:]
            for pool in pools {
                var pacing = stored[pool.key].pacing(configured: configuredCount)
                guard pacing.probeCall == call else { continue }
                pacing.probeAccepted(call: call, now: now)
                ended[pool.key] = pacing
                try rows.endCoolDowns(account: account, pool: pool.name, at: now)
            }
            if !ended.isEmpty { try rows.savePacings(ended) }
        }
    }

    /// The provider stated the limit of `pool` (the default pool when nil) and what is left of it (KuCoin's
    /// `gw-ratelimit-*` headers): see `Pacing.quota`.
    public func recordQuota(account: String, pool: String? = nil, _ quota: ProviderQuota, nowMilliseconds: Int64,
                            windowMilliseconds: Int64, configuredCount: Int) throws {
        let key = pool ?? account
        try limiterTransaction(accounts: [key], runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            var pacing = try rows.pacing(key, configured: configuredCount)
            let held = try rows.held(key, since: now - windowMilliseconds)
            let (changed, hold) = pacing.quota(quota, held: held, now: now, windowMilliseconds: windowMilliseconds)
            if changed { try rows.savePacings([key: pacing]) }
            if let hold {
                try rows.insertSpends([NewSpend(pool: key, call: nil, at: hold.at, weight: hold.weight,
                                                open: false, owner: nil, sentAt: nil)])
            }
        }
    }

    /// The provider's clock minus the store's, as measured after a clock error.
    public func setClockOffset(account: String, milliseconds: Int64) throws {
        try limiterTransaction(accounts: [account], runner: nil, access: .write) { rows in
            try rows.setClockOffset(account: account, milliseconds: milliseconds)
        }
    }
}

extension Optional where Wrapped == StoredPacing {
    /// The stored pacing with the account's configured count, or a fresh one.
    func pacing(configured: Int) -> Pacing {
        guard var pacing = self?.pacing else { return Pacing(configured: configured) }
        pacing.configured = configured
        return pacing
    }
}
