import PacerCore
import PacerLimits
import PacerStorage
import PostgresNIO

/// **Per-account serialisation** is a transaction-scoped advisory lock on each account's name, not a row lock on
/// `accounts`: the account row is also locked by enqueues (foreign-key checks), pauses and `account add
/// --replace`, none of which should queue behind a spend or make one wait; an advisory lock couples only the
/// limiter's own transactions, is released by the commit (a crashed client cannot leave it held) and is held for
/// the few statements of one decision. All of a batch's locks are taken in one statement, in byte order of the
/// names (`COLLATE "C"`, whatever the database's collation), so two runners spending for overlapping accounts
/// cannot deadlock.
extension PostgresStore {
    public func limiterTransaction<T>(accounts: [String], runner: String?, access: LimiterAccess,
                                      _ body: (any LimiterRows) throws -> T) throws -> T {
        try transaction { tx in
            if let runner { try Self.requireRegistered(tx, runner) }
            if access != .read { try Self.lockLimiter(tx, accounts: accounts) }
            return try body(PostgresLimiterRows(tx: tx))
        }
    }

    static func lockLimiter(_ tx: PostgresTransaction, accounts: [String]) throws {
        let names = Array(Set(accounts)).sorted()
        guard !names.isEmpty else { return }
        try tx.execute("""
            SELECT count(pg_advisory_xact_lock(hashtextextended('pacer.limiter:' || a, 0)))
            FROM (SELECT a FROM unnest(\(names)::text[]) AS a ORDER BY a COLLATE "C") AS ordered
            """)
    }
}

/// The limiter's rows on PostgreSQL: each operation one statement (one round trip) for the whole batch.
struct PostgresLimiterRows: LimiterRows {
    let tx: PostgresTransaction

    func now(_ caller: () -> Int64) throws -> Int64 { try tx.now(caller) }

    func pacings(_ accounts: [String]) throws -> [String: StoredPacing] {
        var found: [String: StoredPacing] = [:]
        for row in try tx.rows("SELECT * FROM account_pacing WHERE account = ANY(\(accounts)::text[])") {
            let pacing = Pacing(
                configured: 0, ceiling: try row.get("ceiling", as: Int?.self), ceilingAt: try row.get("ceiling_at"),
                cooldownUntil: try row.get("cooldown_until"), strikes: try row.get("strikes", as: Int.self),
                candidateFill: try row.get("candidate_fill", as: Int?.self), candidateAt: try row.get("candidate_at"),
                olderCandidateFill: try row.get("older_candidate_fill", as: Int?.self),
                olderCandidateAt: try row.get("older_candidate_at"),
                reportedLimit: try row.get("reported_limit", as: Int?.self), probeAt: try row.get("probe_at"),
                probeCall: try row.get("probe_call", as: Int64?.self), refusedAt: try row.get("refused_at"),
                probePassedAt: try row.get("probe_passed_at"))
            found[try row.get("account")] = StoredPacing(pacing: pacing,
                                                         clockOffsetMilliseconds: try row.get("clock_offset_ms"))
        }
        return found
    }

    func savePacings(_ pacings: [String: Pacing]) throws {
        for (account, p) in pacings {
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
    }

    func setClockOffset(account: String, milliseconds: Int64) throws {
        try tx.execute("""
            INSERT INTO account_pacing (account, clock_offset_ms) VALUES (\(account), \(milliseconds))
            ON CONFLICT (account) DO UPDATE SET clock_offset_ms = excluded.clock_offset_ms
            """)
    }

    func heldWeights(_ windows: [(pool: String, since: Int64)]) throws -> [Int] {
        guard !windows.isEmpty else { return [] }
        var held = [Int](repeating: 0, count: windows.count)
        for row in try tx.rows("""
            SELECT w.i,
                   ((SELECT COALESCE(SUM(weight), 0) FROM limiter_spends s
                     WHERE s.account = w.pool AND s.at > w.since AND NOT s.open)
                  + (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends s
                     WHERE s.account = w.pool AND s.open))::bigint AS held
            FROM unnest(\(windows.map(\.pool))::text[], \(windows.map(\.since))::bigint[])
                 WITH ORDINALITY AS w(pool, since, i)
            """) {
            held[try row.get("i", as: Int.self) - 1] = try row.get("held", as: Int.self)
        }
        return held
    }

    func spendLog(pool account: String, since: Int64) throws -> [WindowBudget.Spend] {
        try tx.rows("""
            SELECT at, weight, open FROM limiter_spends
            WHERE account = \(account) AND ((at > \(since) AND NOT open) OR open)
            """).map { WindowBudget.Spend(at: try $0.get("at"), weight: try $0.get("weight", as: Int.self),
                                          open: try $0.get("open")) }
    }

    /// The owner and state are checked with `IS NOT DISTINCT FROM`, which no index serves, so the calls are found
    /// by their ids. With `=`, the planner, whose statistics were gathered when few calls were in flight, walks
    /// `calls_leased` through every call this runner holds (thousands, with many accounts) for each batch.
    func markDispatched(_ calls: [Int64], runner: String, at: Int64) throws -> Set<Int64> {
        Set(try tx.rows(Self.markDispatchedQuery(calls, runner: runner, at: at)).map { try $0.get("id", as: Int64.self) })
    }

    /// The statement of `markDispatched` (its plan is tested: `PostgresStoreTests`).
    static func markDispatchedQuery(_ calls: [Int64], runner: String, at: Int64) -> PostgresQuery {
        """
        UPDATE calls SET dispatched_at = \(at)
        WHERE id = ANY(\(calls)::bigint[]) AND lease_owner IS NOT DISTINCT FROM \(runner)
          AND state IS NOT DISTINCT FROM 'in_flight'
        RETURNING id
        """
    }

    func insertSpends(_ spends: [NewSpend]) throws {
        guard !spends.isEmpty else { return }
        // Optional values travel as arrays with a flag beside them (postgres-nio binds no NULLs inside arrays).
        try tx.execute("""
            INSERT INTO limiter_spends (account, call_id, at, weight, open, owner, sent_at)
            SELECT u.account, CASE WHEN u.has_call THEN u.call END, u.at, u.weight, u.open,
                   CASE WHEN u.has_owner THEN u.owner END, CASE WHEN u.has_sent THEN u.sent END
            FROM unnest(\(spends.map(\.pool))::text[], \(spends.map { $0.call ?? 0 })::bigint[],
                        \(spends.map { $0.call != nil })::boolean[], \(spends.map(\.at))::bigint[],
                        \(spends.map { Int64($0.weight) })::bigint[], \(spends.map(\.open))::boolean[],
                        \(spends.map { $0.owner ?? "" })::text[], \(spends.map { $0.owner != nil })::boolean[],
                        \(spends.map { $0.sentAt ?? 0 })::bigint[], \(spends.map { $0.sentAt != nil })::boolean[])
                 AS u(account, call, has_call, at, weight, open, owner, has_owner, sent, has_sent)
            """)
    }

    func insertSpend(_ s: NewSpend) throws -> Int64 {
        try tx.value("""
            INSERT INTO limiter_spends (account, call_id, at, weight, open, owner, sent_at)
            VALUES (\(s.pool), \(s.call), \(s.at), \(Int64(s.weight)), \(s.open), \(s.owner), \(s.sentAt))
            RETURNING id
            """, as: Int64.self) ?? 0
    }

    func noteCoolDown(account: String, pool: String, from: Int64, until: Int64) throws {
        let pool = PoolKey.display(pool)
        let extended = try tx.execute("""
            UPDATE cooldown_history SET until_at = GREATEST(until_at, \(until))
            WHERE account = \(account) AND pool = \(pool) AND until_at >= \(from)
            """)
        if extended == 0 {
            try tx.execute("""
                INSERT INTO cooldown_history (account, pool, from_at, until_at) VALUES (\(account), \(pool), \(from), \(until))
                """)
        }
    }

    func endCoolDowns(account: String, pool: String, at: Int64) throws {
        try tx.execute("""
            UPDATE cooldown_history SET until_at = \(at)
            WHERE account = \(account) AND pool = \(PoolKey.display(pool)) AND until_at > \(at)
            """)
    }

    func settleSpend(_ id: Int64, at: Int64) throws {
        try tx.execute("UPDATE limiter_spends SET open = FALSE, at = GREATEST(at, \(at)) WHERE id = \(id)")
    }

    func deleteSettledSpends(before: [String: Int64]) throws {
        guard !before.isEmpty else { return }
        let pairs = Array(before)
        try tx.execute("""
            DELETE FROM limiter_spends s USING unnest(\(pairs.map(\.key))::text[], \(pairs.map(\.value))::bigint[])
                AS u(account, before)
            WHERE s.account = u.account AND s.at <= u.before AND NOT s.open
            """)
    }

    func latestSpend(call: Int64, owner: String, pool: String) throws -> (id: Int64, weight: Int)? {
        guard let row = try tx.row("""
            SELECT id, weight FROM limiter_spends WHERE call_id = \(call) AND owner = \(owner) AND account = \(pool)
            ORDER BY id DESC LIMIT 1
            """) else { return nil }
        return (try row.get("id", as: Int64.self), try row.get("weight", as: Int.self))
    }

    func weightSent(pool account: String, after: Int64, beforeSpend spendID: Int64) throws -> Int {
        try tx.value("""
            SELECT COALESCE(SUM(weight), 0)::bigint FROM limiter_spends
            WHERE account = \(account) AND at > \(after) AND COALESCE(sent_at, at) > \(after) AND id < \(spendID)
            """, as: Int.self) ?? 0
    }

    func acceptedSpends(pool account: String, after: Int64, through: Int64) throws -> [(at: Int64, weight: Int)] {
        try tx.rows("""
            SELECT at, weight FROM limiter_spends
            WHERE account = \(account) AND at > \(after) AND at <= \(through) AND NOT open AND accepted
            ORDER BY at
            """).map { (try $0.get("at", as: Int64.self), try $0.get("weight", as: Int.self)) }
    }
}
