import PacerCore
import PacerStore
import PostgresNIO

/// The limiter shared by every machine: spends, reservations, pacing after rate limits, clock offsets.
///
/// **Per-account serialisation** is a transaction-scoped advisory lock on the account's name, not a row lock on
/// `accounts`: the account row is also locked by enqueues (foreign-key checks), pauses and `account add
/// --replace`, none of which should queue behind a spend or make one wait; an advisory lock couples only the
/// limiter's own transactions, is released by the commit (a crashed client cannot leave it held) and is held for
/// the few statements of one decision. Locks of several accounts are taken in name order, so two runners
/// spending for overlapping accounts cannot deadlock.
extension PostgresStore {
    static func lockLimiter(_ tx: PostgresTransaction, accounts: [String]) throws {
        for account in Set(accounts).sorted() {
            try tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('pacer.limiter:' || \(account), 0))")
        }
    }

    public func spend(_ requests: [SpendRequest], runner: String, now clock: () -> Int64) throws -> [SpendGrant] {
        guard !requests.isEmpty else { return [] }
        return try transaction { tx in
            try Self.requireRegistered(tx, runner)
            try Self.lockLimiter(tx, accounts: requests.map(\.account))
            // Read once every lock is held: an instant taken before waiting for them would record sends earlier
            // than they happen.
            let now = try tx.now(clock)
            var buckets: [String: SpendBucket] = [:]
            var pacings: [String: Pacing] = [:]
            var grants: [SpendGrant] = []
            for request in requests {
                if buckets[request.account] == nil {
                    let window = request.windowMilliseconds
                    let (cooldownUntil, budget, pacing) = try Self.bucket(tx, account: request.account, now: now,
                                                                          windowMilliseconds: window,
                                                                          configuredCount: request.configuredCount)
                    buckets[request.account] = SpendBucket(
                        budget: budget, cooldownUntil: cooldownUntil,
                        held: try Self.held(tx, account: request.account, now: now, windowMilliseconds: window))
                    pacings[request.account] = pacing
                    try Self.trim(tx, account: request.account, now: now, windowMilliseconds: window)
                }
                var bucket = buckets[request.account]!
                // Cooling down: nothing leaves, unless the cool-down's probe may go.
                var calls = request.calls, probing: Pacing?
                switch bucket.coolDownGate(calls, pacing: pacings[request.account]!, now: now) {
                case .wait(let until)?:
                    grants.append(SpendGrant(granted: [], retryAt: until, lost: [], at: now))
                    continue
                case .probe(let call, let pacing)?:
                    (calls, probing) = ([call], pacing)
                case nil:
                    break
                }
                var (fitting, retryAt) = try bucket.plan(calls, now: now) {
                    try Self.log(tx, account: request.account, now: now, windowMilliseconds: request.windowMilliseconds)
                }
                // One statement marks the calls dispatched and one records their spends: two round trips per
                // account while its lock is held, however many calls.
                var marked = Set<Int64>()
                if !fitting.isEmpty {
                    let ids = fitting.map(\.id), weights = fitting.map { Int64($0.weight) }
                    marked = Set(try tx.rows("""
                        UPDATE calls SET dispatched_at = \(now)
                        WHERE id = ANY(\(ids)) AND lease_owner = \(runner) AND state = 'in_flight' RETURNING id
                        """).map { try $0.get("id", as: Int64.self) })
                    try tx.execute("""
                        INSERT INTO limiter_spends (account, call_id, at, weight, open, owner, sent_at)
                        SELECT \(request.account), u.id, \(now), u.weight, TRUE, \(runner), \(now)
                        FROM unnest(\(ids)::bigint[], \(weights)::bigint[]) AS u(id, weight)
                        WHERE u.id = ANY(\(Array(marked))::bigint[])
                        """)
                }
                let granted = fitting.filter { marked.contains($0.id) }
                bucket.spent(granted, at: now)
                buckets[request.account] = bucket
                if let probing, !granted.isEmpty {
                    try Self.savePacing(tx, account: request.account, probing)
                    pacings[request.account] = probing
                    retryAt = bucket.cooldownUntil // the rest waits for the probe's answer, or the term
                }
                grants.append(SpendGrant(granted: granted.map(\.id), retryAt: retryAt,
                                         lost: fitting.map(\.id).filter { !marked.contains($0) }, at: now,
                                         probe: probing != nil && !granted.isEmpty))
            }
            return grants
        }
    }

    /// Settled spends long out of the window no longer matter; trim them now and then. Open spends never.
    static func trim(_ tx: PostgresTransaction, account: String, now: Int64, windowMilliseconds: Int64) throws {
        guard Int.random(in: 0..<64) == 0 else { return }
        let before = now - WindowBudget.keepSettledMilliseconds(windowMilliseconds: windowMilliseconds)
        try tx.execute("DELETE FROM limiter_spends WHERE account = \(account) AND at <= \(before) AND NOT open")
    }

    public func reserve(account: String, weight: Int, owner: String, now clock: () -> Int64,
                        windowMilliseconds: Int64, configuredCount: Int) throws -> Reservation {
        try transaction { tx in
            try Self.requireRegistered(tx, owner)
            try Self.lockLimiter(tx, accounts: [account])
            let now = try tx.now(clock)
            let (cooldownUntil, budget, _) = try Self.bucket(tx, account: account, now: now,
                                                             windowMilliseconds: windowMilliseconds,
                                                             configuredCount: configuredCount)
            if let cooldownUntil { return .wait(until: cooldownUntil) }
            let log = try Self.log(tx, account: account, now: now, windowMilliseconds: windowMilliseconds)
            switch budget.decide(weight: weight, now: now, log: log) {
            case .wait(let until): return .wait(until: until)
            case .send:
                let id = try tx.value("""
                    INSERT INTO limiter_spends (account, call_id, at, weight, open, owner)
                    VALUES (\(account), NULL, \(now), \(Int64(weight)), TRUE, \(owner)) RETURNING id
                    """, as: Int64.self)
                return .spent(id: id ?? 0)
            }
        }
    }

    public func settle(spend: Int64, answeredAt: Int64) throws {
        try transaction { tx in
            // On the server's clock, the answer is "now": later than it arrived, which only holds the token longer.
            let at = try tx.now(caller: answeredAt).now
            try tx.execute("UPDATE limiter_spends SET open = FALSE, at = GREATEST(at, \(at)) WHERE id = \(spend)")
        }
    }

    /// The weight of the spends still holding tokens at `now` (inside the window, or open).
    static func held(_ tx: PostgresTransaction, account: String, now: Int64, windowMilliseconds: Int64) throws -> Int {
        try tx.value("""
            SELECT ((SELECT COALESCE(SUM(weight), 0) FROM limiter_spends
                     WHERE account = \(account) AND at > \(now - windowMilliseconds) AND NOT open)
                  + (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends WHERE account = \(account) AND open))::bigint
            """, as: Int.self) ?? 0
    }

    static func log(_ tx: PostgresTransaction, account: String, now: Int64, windowMilliseconds: Int64) throws -> [WindowBudget.Spend] {
        try tx.rows("""
            SELECT at, weight, open FROM limiter_spends
            WHERE account = \(account) AND ((at > \(now - windowMilliseconds) AND NOT open) OR open)
            """).map { WindowBudget.Spend(at: try $0.get("at"), weight: try $0.get("weight", as: Int.self), open: try $0.get("open")) }
    }

    static func bucket(_ tx: PostgresTransaction, account: String, now: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> (cooldownUntil: Int64?, budget: WindowBudget, pacing: Pacing) {
        let pacing = try Self.pacing(tx, account: account, configuredCount: configuredCount)
        let budget = WindowBudget(capacity: pacing.capacity(now: now, windowMilliseconds: windowMilliseconds),
                                  windowMilliseconds: windowMilliseconds)
        return (pacing.cooldownUntil > now ? pacing.cooldownUntil : nil, budget, pacing)
    }

    static func pacing(_ tx: PostgresTransaction, account: String, configuredCount: Int) throws -> Pacing {
        guard let row = try tx.row("SELECT * FROM account_pacing WHERE account = \(account)") else {
            return Pacing(configured: configuredCount)
        }
        return Pacing(configured: configuredCount, ceiling: try row.get("ceiling", as: Int?.self),
                      ceilingAt: try row.get("ceiling_at"), cooldownUntil: try row.get("cooldown_until"),
                      strikes: try row.get("strikes", as: Int.self), candidateFill: try row.get("candidate_fill", as: Int?.self),
                      candidateAt: try row.get("candidate_at"),
                      olderCandidateFill: try row.get("older_candidate_fill", as: Int?.self),
                      olderCandidateAt: try row.get("older_candidate_at"),
                      reportedLimit: try row.get("reported_limit", as: Int?.self),
                      probeAt: try row.get("probe_at"), probeCall: try row.get("probe_call", as: Int64?.self),
                      refusedAt: try row.get("refused_at"), probePassedAt: try row.get("probe_passed_at"))
    }

    static func savePacing(_ tx: PostgresTransaction, account: String, _ p: Pacing) throws {
        try tx.execute("""
            INSERT INTO account_pacing (account, ceiling, ceiling_at, cooldown_until, strikes, candidate_fill,
                                        candidate_at, older_candidate_fill, older_candidate_at, reported_limit,
                                        probe_at, probe_call, refused_at, probe_passed_at)
            VALUES (\(account), \(p.ceiling.map(Int64.init)), \(p.ceilingAt), \(p.cooldownUntil), \(Int64(p.strikes)),
                    \(p.candidateFill.map(Int64.init)), \(p.candidateAt), \(p.olderCandidateFill.map(Int64.init)),
                    \(p.olderCandidateAt), \(p.reportedLimit.map(Int64.init)), \(p.probeAt), \(p.probeCall),
                    \(p.refusedAt), \(p.probePassedAt))
            ON CONFLICT (account) DO UPDATE SET ceiling = excluded.ceiling, ceiling_at = excluded.ceiling_at,
                cooldown_until = excluded.cooldown_until, strikes = excluded.strikes,
                candidate_fill = excluded.candidate_fill, candidate_at = excluded.candidate_at,
                older_candidate_fill = excluded.older_candidate_fill, older_candidate_at = excluded.older_candidate_at,
                reported_limit = excluded.reported_limit, probe_at = excluded.probe_at, probe_call = excluded.probe_call,
                refused_at = excluded.refused_at, probe_passed_at = excluded.probe_passed_at
            """)
    }

    public func pacing(account: String, nowMilliseconds: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> AccountPacing {
        try read { tx in
            let now = try tx.now(caller: nowMilliseconds).now
            let pacing = try Self.pacing(tx, account: account, configuredCount: configuredCount)
            let offset = try tx.value("SELECT clock_offset_ms FROM account_pacing WHERE account = \(account)", as: Int64.self) ?? 0
            let spent = try Self.held(tx, account: account, now: now, windowMilliseconds: windowMilliseconds)
            return AccountPacing(pacing: pacing, clockOffsetMilliseconds: offset, spentInWindow: spent)
        }
    }

    public func recordRateLimit(account: String, call: Int64, runner: String, sentAt: Int64, nowMilliseconds: Int64,
                                retryAfterMilliseconds: Int64?, windowMilliseconds: Int64, configuredCount: Int,
                                accepted: AcceptedPeak.Evidence?) throws {
        try transaction { tx in
            try Self.lockLimiter(tx, accounts: [account])
            let now = try tx.now(caller: nowMilliseconds).now
            var pacing = try Self.pacing(tx, account: account, configuredCount: configuredCount)
            // What the window held before the refused call left (by spend order), as in the SQLite store.
            let spend = try tx.row("""
                SELECT id, weight FROM limiter_spends WHERE call_id = \(call) AND owner = \(runner) ORDER BY id DESC LIMIT 1
                """)
            let spendID = try spend?.get("id", as: Int64.self) ?? Int64.max
            let fill = try tx.value("""
                SELECT COALESCE(SUM(weight), 0)::bigint FROM limiter_spends
                WHERE account = \(account) AND at > \(sentAt - windowMilliseconds)
                  AND COALESCE(sent_at, at) > \(sentAt - windowMilliseconds) AND id < \(spendID)
                """, as: Int.self) ?? 0
            // What every runner's settled answers say the provider accepted lately, beside what this one saw: read
            // once a burst (as in the SQLite store).
            var accepted = accepted
            if !pacing.sameBurst(sentAt: sentAt) {
                var peak = AcceptedPeak()
                for row in try tx.rows("""
                    SELECT at, weight FROM limiter_spends
                    WHERE account = \(account) AND at > \(sentAt - AcceptedPeak.lateWindows * windowMilliseconds)
                      AND at <= \(now) AND NOT open AND accepted
                    ORDER BY at
                    """) {
                    peak.accepted(weight: try row.get("weight", as: Int.self), at: try row.get("at"),
                                  windowMilliseconds: windowMilliseconds)
                }
                // Only the peak: a settled spend's instant is its answer's, so which window it was sent in is not
                // known (the caller's own count of the refused call's window is by send).
                let settled = peak.evidence(sentAt: sentAt, windowMilliseconds: windowMilliseconds)
                accepted = .merged(accepted, settled.map { AcceptedPeak.Evidence(peak: $0.peak, window: 0) })
            }
            pacing.rateLimited(now: now, sentAt: sentAt, fill: fill, weight: try spend?.get("weight", as: Int.self) ?? 1,
                               retryAfterMilliseconds: retryAfterMilliseconds, windowMilliseconds: windowMilliseconds,
                               accepted: accepted, call: call)
            try Self.savePacing(tx, account: account, pacing)
        }
    }

    public func probeAccepted(account: String, call: Int64, nowMilliseconds: Int64, configuredCount: Int) throws {
        try transaction { tx in
            try Self.lockLimiter(tx, accounts: [account])
            let now = try tx.now(caller: nowMilliseconds).now
            var pacing = try Self.pacing(tx, account: account, configuredCount: configuredCount)
            guard pacing.probeCall == call else { return }
            pacing.probeAccepted(call: call, now: now)
            try Self.savePacing(tx, account: account, pacing)
        }
    }

    public func recordQuota(account: String, _ quota: ProviderQuota, nowMilliseconds: Int64, windowMilliseconds: Int64,
                            configuredCount: Int) throws {
        try transaction { tx in
            try Self.lockLimiter(tx, accounts: [account])
            let now = try tx.now(caller: nowMilliseconds).now
            var pacing = try Self.pacing(tx, account: account, configuredCount: configuredCount)
            if let limit = quota.limit, (limit >= configuredCount ? nil : limit) != pacing.reportedLimit {
                pacing.reported(limit: limit)
                try Self.savePacing(tx, account: account, pacing)
            }
            guard let remaining = quota.remaining, let reset = quota.resetMilliseconds, reset > 0 else { return }
            let held = try Self.held(tx, account: account, now: now, windowMilliseconds: windowMilliseconds)
            let ours = pacing.capacity(now: now, windowMilliseconds: windowMilliseconds) - held
            guard remaining < ours else { return }
            try tx.execute("""
                INSERT INTO limiter_spends (account, call_id, at, weight, open, owner)
                VALUES (\(account), NULL, \(now + min(reset, windowMilliseconds) - windowMilliseconds),
                        \(Int64(ours - remaining)), FALSE, NULL)
                """)
        }
    }

    public func setClockOffset(account: String, milliseconds: Int64) throws {
        try transaction { tx in
            try tx.execute("""
                INSERT INTO account_pacing (account, clock_offset_ms) VALUES (\(account), \(milliseconds))
                ON CONFLICT (account) DO UPDATE SET clock_offset_ms = excluded.clock_offset_ms
                """)
        }
    }
}
