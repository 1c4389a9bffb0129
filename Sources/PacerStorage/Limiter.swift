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
        return try limiterTransaction(accounts: requests.map(\.account), runner: runner, access: .durableWrite) { rows in
            let now = try rows.now(clock)
            var windows: [String: Int64] = [:], configured: [String: Int] = [:]
            for request in requests where windows[request.account] == nil {
                windows[request.account] = request.windowMilliseconds
                configured[request.account] = request.configuredCount
            }
            let stored = try rows.pacings(Array(windows.keys))
            var pacings: [String: Pacing] = [:]
            for (account, count) in configured { pacings[account] = stored[account].pacing(configured: count) }
            let held = try rows.heldWeights(since: windows.mapValues { now - $0 })
            let decisions = try SpendBatch.decide(
                requests.map { SpendBatch.Want(account: $0.account, calls: $0.calls, windowMilliseconds: $0.windowMilliseconds) },
                now: now, pacings: pacings, held: held, readLog: { try rows.spendLog(account: $0, since: $1) })
            // One statement marks every fitting call dispatched, one records the spends of those still ours.
            let fitting = zip(requests, decisions).flatMap { request, decision in
                decision.fitting.map { (account: request.account, call: $0) }
            }
            let marked = fitting.isEmpty ? [] : try rows.markDispatched(fitting.map(\.call.id), runner: runner, at: now)
            try rows.insertSpends(fitting.filter { marked.contains($0.call.id) }.map {
                NewSpend(account: $0.account, call: $0.call.id, at: now, weight: $0.call.weight, open: true,
                         owner: runner, sentAt: now)
            })
            var probes: [String: Pacing] = [:]
            let grants = zip(requests, decisions).map { request, decision -> SpendGrant in
                let granted = decision.fitting.map(\.id).filter { marked.contains($0) }
                // A probe whose lease was lost did not go: nothing waits for its answer.
                let probed = decision.probing != nil && !granted.isEmpty
                if probed { probes[request.account] = decision.probing }
                return SpendGrant(granted: granted, retryAt: probed ? decision.retryAt : decision.retryAtWithoutProbe,
                                  lost: decision.fitting.map(\.id).filter { !marked.contains($0) }, at: now,
                                  probe: probed)
            }
            if !probes.isEmpty { try rows.savePacings(probes) }
            // Settled spends long out of the window no longer matter: trim them now and then (open ones never).
            let trim = windows.filter { _ in Int.random(in: 0..<64) == 0 }
            if !trim.isEmpty {
                try rows.deleteSettledSpends(before: trim.mapValues {
                    now - WindowBudget.keepSettledMilliseconds(windowMilliseconds: $0)
                })
            }
            return grants
        }
    }

    /// One account's spend (see `spend(_:runner:now:)`).
    public func spend(account: String, calls: [(id: Int64, weight: Int)], runner: String, now: () -> Int64,
                      windowMilliseconds: Int64, configuredCount: Int) throws -> SpendGrant {
        try spend([SpendRequest(account: account, calls: calls, windowMilliseconds: windowMilliseconds,
                                configuredCount: configuredCount)], runner: runner, now: now)[0]
    }

    /// Spends tokens for a call outside the queue (`pacer call`), owned by the registered runner `owner`.
    public func reserve(account: String, weight: Int, owner: String, now clock: () -> Int64, windowMilliseconds: Int64,
                        configuredCount: Int) throws -> Reservation {
        try limiterTransaction(accounts: [account], runner: owner, access: .durableWrite) { rows in
            let now = try rows.now(clock)
            let pacing = try rows.pacing(account, configured: configuredCount)
            let log = try rows.spendLog(account: account, since: now - windowMilliseconds)
            switch pacing.admits(weight: weight, now: now, windowMilliseconds: windowMilliseconds, log: log) {
            case .wait(let until): return .wait(until: until)
            case .send:
                return .spent(id: try rows.insertSpend(NewSpend(account: account, call: nil, at: now, weight: weight,
                                                                open: true, owner: owner, sentAt: now)))
            }
        }
    }

    /// The answer to a reserved spend arrived at `answeredAt`: its tokens come back a window after that (on
    /// PostgreSQL's clock, "now": later than it arrived, which only holds the token longer).
    public func settle(spend: Int64, answeredAt: Int64) throws {
        try limiterTransaction(accounts: [], runner: nil, access: .write) { rows in
            try rows.settleSpend(spend, at: try rows.now { answeredAt })
        }
    }

    /// The account's limiter state, for the runner and `status`.
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

    /// A rate-limit answer to `call`, sent by `runner` at `sentAt`: what the window held before that call is
    /// evidence of the provider's real limit, weighed against what the provider accepted lately (`accepted`, the
    /// runner's own view; every runner's settled answers are read here once a burst). See `Pacing`.
    public func recordRateLimit(account: String, call: Int64, runner: String, sentAt: Int64, nowMilliseconds: Int64,
                                retryAfterMilliseconds: Int64?, windowMilliseconds: Int64, configuredCount: Int,
                                accepted: AcceptedPeak.Evidence? = nil) throws {
        try limiterTransaction(accounts: [account], runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            var pacing = try rows.pacing(account, configured: configuredCount)
            let coolingUntil = pacing.cooldownUntil
            // What the window held before the refused call left: "before" by spend order (ids grow as spends are
            // made), not by instant, which an answer moves forward; "in the window" by when each was sent.
            let spend = try rows.latestSpend(call: call, owner: runner)
            let fill = try rows.weightSent(account: account, after: sentAt - windowMilliseconds,
                                           beforeSpend: spend?.id ?? Int64.max)
            // Read once a burst: a burst of hundreds of refusals must not read two windows of spends each time.
            let settled = pacing.sameBurst(sentAt: sentAt) ? nil : try rows.acceptedSpends(
                account: account, after: sentAt - AcceptedPeak.lateWindows * windowMilliseconds, through: now)
            pacing.refused(now: now, sentAt: sentAt, fill: fill, weight: spend?.weight ?? 1,
                           retryAfterMilliseconds: retryAfterMilliseconds, windowMilliseconds: windowMilliseconds,
                           accepted: accepted, settledAccepted: settled, call: call)
            try rows.savePacings([account: pacing])
            if pacing.cooldownUntil > max(coolingUntil, now) {
                try rows.noteCoolDown(account: account, from: now, until: pacing.cooldownUntil)
            }
        }
    }

    /// The provider accepted `call`, sent as a cool-down's probe (`SpendGrant.probe`): the cool-down ends.
    public func probeAccepted(account: String, call: Int64, nowMilliseconds: Int64, configuredCount: Int) throws {
        try limiterTransaction(accounts: [account], runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            var pacing = try rows.pacing(account, configured: configuredCount)
            guard pacing.probeCall == call else { return }
            pacing.probeAccepted(call: call, now: now)
            try rows.savePacings([account: pacing])
            try rows.endCoolDowns(account: account, at: now)
        }
    }

    /// The provider stated its limit and what is left of it (KuCoin's `gw-ratelimit-*` headers): see
    /// `Pacing.quota`.
    public func recordQuota(account: String, _ quota: ProviderQuota, nowMilliseconds: Int64, windowMilliseconds: Int64,
                            configuredCount: Int) throws {
        try limiterTransaction(accounts: [account], runner: nil, access: .write) { rows in
            let now = try rows.now { nowMilliseconds }
            var pacing = try rows.pacing(account, configured: configuredCount)
            let held = try rows.held(account, since: now - windowMilliseconds)
            let (changed, hold) = pacing.quota(quota, held: held, now: now, windowMilliseconds: windowMilliseconds)
            if changed { try rows.savePacings([account: pacing]) }
            if let hold {
                try rows.insertSpends([NewSpend(account: account, call: nil, at: hold.at, weight: hold.weight,
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
