import GRDB
import PacerCore

/// The cross-process limiter: spends, reservations, pacing after rate limits, clock offsets.
extension SQLiteStore {
    public func spend(_ requests: [SpendRequest], runner: String, now clock: () -> Int64) throws -> [SpendGrant] {
        try spend(requests, runner: runner, now: clock, completing: [])
    }

    public var writesCompletionsWithSpends: Bool { true }

    public func spend(_ requests: [SpendRequest], runner: String, now clock: () -> Int64,
                      completing: [Completion]) throws -> [SpendGrant] {
        guard !requests.isEmpty else {
            try complete(completing)
            return []
        }
        // Durable: the requests may leave as soon as this commits, so a power loss must not roll back the mark
        // that they were dispatched (a non-idempotent call would be sent again).
        return try writeImmediate(durable: true) { db in
            try Self.requireRegistered(db, runner)
            // The answers first: they settle spends, which the buckets below then count as settled.
            if !completing.isEmpty { try Self.complete(db, completing) }
            let now = clock()
            let mark = try db.cachedStatement(sql: """
                UPDATE calls SET dispatched_at = ? WHERE id = ? AND lease_owner = ? AND state = 'in_flight'
                """)
            let insert = try db.cachedStatement(sql: """
                INSERT INTO limiter_spends (account, call_id, at, weight, open, owner, sent_at) VALUES (?, ?, ?, ?, 1, ?, ?)
                """)
            // Requests for the same account (from different tasks) are decided in order against one bucket
            // (`SpendBucket`: the sum of what it holds, its spends read only when a call does not fit).
            var buckets: [String: SpendBucket] = [:]
            var pacings: [String: Pacing] = [:]
            var grants: [SpendGrant] = []
            for request in requests {
                if buckets[request.account] == nil {
                    let window = request.windowMilliseconds
                    let (cooldownUntil, budget, pacing) = try Self.bucket(db, account: request.account, now: now,
                                                                          windowMilliseconds: window,
                                                                          configuredCount: request.configuredCount)
                    buckets[request.account] = SpendBucket(
                        budget: budget, cooldownUntil: cooldownUntil,
                        held: try Self.held(db, account: request.account, now: now, windowMilliseconds: window))
                    pacings[request.account] = pacing
                    try Self.trim(db, account: request.account, now: now, windowMilliseconds: window)
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
                    try Self.log(db, account: request.account, now: now, windowMilliseconds: request.windowMilliseconds)
                }
                var granted: [(id: Int64, weight: Int)] = [], lost: [Int64] = []
                for call in fitting {
                    try mark.execute(arguments: [now, call.id, runner])
                    guard db.changesCount == 1 else { lost.append(call.id); continue }
                    try insert.execute(arguments: [request.account, call.id, now, call.weight, runner, now])
                    granted.append(call)
                }
                bucket.spent(granted, at: now)
                buckets[request.account] = bucket
                if let probing, !granted.isEmpty {
                    try Self.savePacing(db, account: request.account, probing)
                    pacings[request.account] = probing
                    retryAt = bucket.cooldownUntil // the rest waits for the probe's answer, or the term
                }
                grants.append(SpendGrant(granted: granted.map(\.id), retryAt: retryAt, lost: lost, at: now,
                                         probe: probing != nil && !granted.isEmpty))
            }
            return grants
        }
    }

    /// Settled spends long out of the window no longer matter; trim them now and then (cheap: an indexed range).
    /// An open spend is never trimmed: its request may still be travelling.
    static func trim(_ db: Database, account: String, now: Int64, windowMilliseconds: Int64) throws {
        guard Int.random(in: 0..<64) == 0 else { return }
        try db.execute(sql: "DELETE FROM limiter_spends WHERE account = ? AND at <= ? AND open = 0",
                       arguments: [account, now - WindowBudget.keepSettledMilliseconds(windowMilliseconds: windowMilliseconds)])
    }

    public func reserve(account: String, weight: Int, owner: String, now clock: () -> Int64,
                        windowMilliseconds: Int64, configuredCount: Int) throws -> Reservation {
        try writeImmediate(durable: true) { db in
            try Self.requireRegistered(db, owner)
            let now = clock()
            let (cooldownUntil, budget, _) = try Self.bucket(db, account: account, now: now,
                                                             windowMilliseconds: windowMilliseconds,
                                                             configuredCount: configuredCount)
            if let cooldownUntil { return .wait(until: cooldownUntil) }
            let log = try Self.log(db, account: account, now: now, windowMilliseconds: windowMilliseconds)
            switch budget.decide(weight: weight, now: now, log: log) {
            case .wait(let until): return .wait(until: until)
            case .send:
                try db.execute(sql: """
                    INSERT INTO limiter_spends (account, call_id, at, weight, open, owner) VALUES (?, NULL, ?, ?, 1, ?)
                    """, arguments: [account, now, weight, owner])
                return .spent(id: db.lastInsertedRowID)
            }
        }
    }

    public func settle(spend: Int64, answeredAt: Int64) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE limiter_spends SET open = 0, at = MAX(at, ?) WHERE id = ?",
                           arguments: [answeredAt, spend])
        }
    }

    /// The weight of the spends still holding tokens at `now` (inside the window, or open).
    static func held(_ db: Database, account: String, now: Int64, windowMilliseconds: Int64) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends WHERE account = ?1 AND at > ?2 AND open = 0)
                 + (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends WHERE account = ?1 AND open = 1)
            """), arguments: [account, now - windowMilliseconds]) ?? 0
    }

    /// The spends still holding tokens at `now`, each with its instant.
    static func log(_ db: Database, account: String, now: Int64, windowMilliseconds: Int64) throws -> [WindowBudget.Spend] {
        // Two indexed reads instead of one OR: the window's settled spends by (account, at), the open ones by the
        // partial index.
        try Row.fetchAll(db, sql: """
            SELECT at, weight, 0 AS open FROM limiter_spends WHERE account = ?1 AND at > ?2 AND open = 0
            UNION ALL
            SELECT at, weight, 1 AS open FROM limiter_spends WHERE account = ?1 AND open = 1
            """, arguments: [account, now - windowMilliseconds])
            .map { WindowBudget.Spend(at: $0["at"], weight: $0["weight"], open: $0["open"]) }
    }

    /// The account's bucket at `now`, read inside the caller's write transaction: the cool-down if one is running,
    /// and the budget its pacing allows. What it holds is read separately (`held`, or `log` when needed).
    static func bucket(_ db: Database, account: String, now: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> (cooldownUntil: Int64?, budget: WindowBudget, pacing: Pacing) {
        let pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
        let budget = WindowBudget(capacity: pacing.capacity(now: now, windowMilliseconds: windowMilliseconds),
                                  windowMilliseconds: windowMilliseconds)
        return (pacing.cooldownUntil > now ? pacing.cooldownUntil : nil, budget, pacing)
    }

    static func pacing(_ db: Database, account: String, configuredCount: Int) throws -> Pacing {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM account_pacing WHERE account = ?"), arguments: [account])
        else { return Pacing(configured: configuredCount) }
        return Pacing(configured: configuredCount, ceiling: row["ceiling"], ceilingAt: row["ceiling_at"],
                      cooldownUntil: row["cooldown_until"], strikes: row["strikes"], candidateFill: row["candidate_fill"],
                      candidateAt: row["candidate_at"], olderCandidateFill: row["older_candidate_fill"],
                      olderCandidateAt: row["older_candidate_at"], reportedLimit: row["reported_limit"],
                      probeAt: row["probe_at"], probeCall: row["probe_call"], refusedAt: row["refused_at"],
                      probePassedAt: row["probe_passed_at"])
    }

    static func savePacing(_ db: Database, account: String, _ pacing: Pacing) throws {
        try db.execute(sql: """
            INSERT INTO account_pacing (account, ceiling, ceiling_at, cooldown_until, strikes, candidate_fill,
                                        candidate_at, older_candidate_fill, older_candidate_at, reported_limit,
                                        probe_at, probe_call, refused_at, probe_passed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(account) DO UPDATE SET ceiling = excluded.ceiling, ceiling_at = excluded.ceiling_at,
                cooldown_until = excluded.cooldown_until, strikes = excluded.strikes,
                candidate_fill = excluded.candidate_fill, candidate_at = excluded.candidate_at,
                older_candidate_fill = excluded.older_candidate_fill, older_candidate_at = excluded.older_candidate_at,
                reported_limit = excluded.reported_limit, probe_at = excluded.probe_at, probe_call = excluded.probe_call,
                refused_at = excluded.refused_at, probe_passed_at = excluded.probe_passed_at
            """, arguments: [account, pacing.ceiling, pacing.ceilingAt, pacing.cooldownUntil, pacing.strikes,
                             pacing.candidateFill, pacing.candidateAt, pacing.olderCandidateFill,
                             pacing.olderCandidateAt, pacing.reportedLimit, pacing.probeAt, pacing.probeCall,
                             pacing.refusedAt, pacing.probePassedAt])
    }

    public func pacing(account: String, nowMilliseconds now: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> AccountPacing {
        try pool.read { db in
            let pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            let offset = try Int64.fetchOne(db, sql: "SELECT clock_offset_ms FROM account_pacing WHERE account = ?",
                                            arguments: [account]) ?? 0
            let spent = try Self.held(db, account: account, now: now, windowMilliseconds: windowMilliseconds)
            return AccountPacing(pacing: pacing, clockOffsetMilliseconds: offset, spentInWindow: spent)
        }
    }

    public func recordRateLimit(account: String, call: Int64, runner: String, sentAt: Int64, nowMilliseconds now: Int64,
                                retryAfterMilliseconds: Int64?, windowMilliseconds: Int64, configuredCount: Int,
                                accepted: AcceptedPeak.Evidence?) throws {
        try writeImmediate { db in
            var pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            // What the window held before the refused call left: the provider's real limit is about that much.
            // "Before" by spend order (ids grow as spends are made), not by `at`, which an answer moves forward:
            // calls of the same batch spent ahead of this one count, later ones do not. "In the window" by when
            // each was sent (`sent_at`): one answered after the window began but sent before it is gone from the
            // provider's count.
            let spend = try Row.fetchOne(db, sql: """
                SELECT id, weight FROM limiter_spends WHERE call_id = ? AND owner = ? ORDER BY id DESC LIMIT 1
                """, arguments: [call, runner])
            let fill = try Int.fetchOne(db, sql: """
                SELECT COALESCE(SUM(weight), 0) FROM limiter_spends
                WHERE account = ?1 AND at > ?2 AND COALESCE(sent_at, at) > ?2 AND id < ?3
                """, arguments: [account, sentAt - windowMilliseconds, spend?["id"] ?? Int64.max]) ?? 0
            // What every runner's settled answers say the provider accepted lately, beside what this one saw: read
            // once a burst (a burst of hundreds of refusals must not read two windows of spends hundreds of times
            // while it holds the write lock).
            var accepted = accepted
            if !pacing.sameBurst(sentAt: sentAt) {
                var peak = AcceptedPeak()
                for row in try Row.fetchAll(db, sql: """
                    SELECT at, weight FROM limiter_spends
                    WHERE account = ? AND at > ? AND at <= ? AND open = 0 AND accepted = 1 ORDER BY at
                    """, arguments: [account, sentAt - AcceptedPeak.lateWindows * windowMilliseconds, now]) {
                    peak.accepted(weight: row["weight"], at: row["at"], windowMilliseconds: windowMilliseconds)
                }
                // Only the peak: a settled spend's instant is its answer's, so which window it was sent in is not
                // known (the caller's own count of the refused call's window is by send).
                let settled = peak.evidence(sentAt: sentAt, windowMilliseconds: windowMilliseconds)
                accepted = .merged(accepted, settled.map { AcceptedPeak.Evidence(peak: $0.peak, window: 0) })
            }
            pacing.rateLimited(now: now, sentAt: sentAt, fill: fill, weight: spend?["weight"] ?? 1,
                               retryAfterMilliseconds: retryAfterMilliseconds, windowMilliseconds: windowMilliseconds,
                               accepted: accepted, call: call)
            try Self.savePacing(db, account: account, pacing)
        }
    }

    public func probeAccepted(account: String, call: Int64, nowMilliseconds now: Int64, configuredCount: Int) throws {
        try writeImmediate { db in
            var pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            guard pacing.probeCall == call else { return }
            pacing.probeAccepted(call: call, now: now)
            try Self.savePacing(db, account: account, pacing)
        }
    }

    public func recordQuota(account: String, _ quota: ProviderQuota, nowMilliseconds now: Int64,
                            windowMilliseconds: Int64, configuredCount: Int) throws {
        try writeImmediate { db in
            var pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            if let limit = quota.limit, (limit >= configuredCount ? nil : limit) != pacing.reportedLimit {
                pacing.reported(limit: limit)
                try Self.savePacing(db, account: account, pacing)
            }
            guard let remaining = quota.remaining, let reset = quota.resetMilliseconds, reset > 0 else { return }
            // What we think is left: the capacity less what we hold. The provider has seen everything we sent
            // before its answer, so if it has less left, someone else spends from the same quota: hold the
            // difference as spent until the provider's window resets, as a spend made `window - reset` ago.
            let held = try Self.held(db, account: account, now: now, windowMilliseconds: windowMilliseconds)
            let ours = pacing.capacity(now: now, windowMilliseconds: windowMilliseconds) - held
            guard remaining < ours else { return }
            try db.execute(sql: """
                INSERT INTO limiter_spends (account, call_id, at, weight, open, owner) VALUES (?, NULL, ?, ?, 0, NULL)
                """, arguments: [account, now + min(reset, windowMilliseconds) - windowMilliseconds, ours - remaining])
        }
    }

    public func setClockOffset(account: String, milliseconds: Int64) throws {
        try writeImmediate { db in
            try db.execute(sql: """
                INSERT INTO account_pacing (account, clock_offset_ms) VALUES (?, ?)
                ON CONFLICT(account) DO UPDATE SET clock_offset_ms = excluded.clock_offset_ms
                """, arguments: [account, milliseconds])
        }
    }
}
