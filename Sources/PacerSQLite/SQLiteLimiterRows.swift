import GRDB
import PacerCore
import PacerLimits
import PacerStorage

extension SQLiteStore {
    /// A limiter transaction: `BEGIN IMMEDIATE` holds SQLite's one write lock, which serialises every process's
    /// limiter writes on all accounts at once (`accounts` needs no lock of its own here).
    public func limiterTransaction<T>(accounts: [String], runner: String?, access: LimiterAccess,
                                      _ body: (any LimiterRows) throws -> T) throws -> T {
        if case .read = access { return try pool.read { db in try body(SQLiteLimiterRows(db: db, store: self)) } }
        return try writeImmediate(durable: access == .durableWrite) { db in
            if let runner { try Self.requireRegistered(db, runner) }
            return try body(SQLiteLimiterRows(db: db, store: self))
        }
    }
}

/// The limiter's rows in SQLite: each operation one statement (a few for long lists of accounts).
struct SQLiteLimiterRows: LimiterRows {
    let db: Database
    let store: SQLiteStore

    func now(_ caller: () -> Int64) throws -> Int64 { store.now(caller) }

    func pacings(_ accounts: [String]) throws -> [String: StoredPacing] {
        var found: [String: StoredPacing] = [:]
        for chunk in accounts.chunked(500) {
            for row in try Row.fetchAll(db, sql: """
                SELECT * FROM account_pacing WHERE account IN (\(placeholders(chunk.count)))
                """, arguments: StatementArguments(chunk)) {
                let pacing = Pacing(
                    configured: 0, ceiling: row["ceiling"], ceilingAt: row["ceiling_at"],
                    cooldownUntil: row["cooldown_until"], strikes: row["strikes"], candidateFill: row["candidate_fill"],
                    candidateAt: row["candidate_at"], olderCandidateFill: row["older_candidate_fill"],
                    olderCandidateAt: row["older_candidate_at"], reportedLimit: row["reported_limit"],
                    probeAt: row["probe_at"], probeCall: row["probe_call"], refusedAt: row["refused_at"],
                    probePassedAt: row["probe_passed_at"])
                found[row["account"]] = StoredPacing(pacing: pacing, clockOffsetMilliseconds: row["clock_offset_ms"])
            }
        }
        return found
    }

    func savePacings(_ pacings: [String: Pacing]) throws {
        let upsert = try db.cachedStatement(sql: """
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
            """)
        for (account, p) in pacings {
            try upsert.execute(arguments: [account, p.ceiling, p.ceilingAt, p.cooldownUntil, p.strikes, p.candidateFill,
                                           p.candidateAt, p.olderCandidateFill, p.olderCandidateAt, p.reportedLimit,
                                           p.probeAt, p.probeCall, p.refusedAt, p.probePassedAt])
        }
    }

    func setClockOffset(account: String, milliseconds: Int64) throws {
        try db.execute(sql: """
            INSERT INTO account_pacing (account, clock_offset_ms) VALUES (?, ?)
            ON CONFLICT(account) DO UPDATE SET clock_offset_ms = excluded.clock_offset_ms
            """, arguments: [account, milliseconds])
    }

    func heldWeights(_ windows: [(pool: String, since: Int64)]) throws -> [Int] {
        var held: [Int] = []
        for chunk in windows.chunked(300) {
            // Two indexed sums per pool and window: its window's settled spends by (account, at), its open ones by
            // the partial index. `i` keeps the answers in the order asked (a pool may be asked once per window).
            var sums = [Int](repeating: 0, count: chunk.count)
            for row in try Row.fetchAll(db, sql: """
                WITH w(i, pool, since) AS (VALUES \(Array(repeating: "(?, ?, ?)", count: chunk.count).joined(separator: ", ")))
                SELECT w.i,
                       (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends s
                        WHERE s.account = w.pool AND s.at > w.since AND s.open = 0)
                     + (SELECT COALESCE(SUM(weight), 0) FROM limiter_spends s
                        WHERE s.account = w.pool AND s.open = 1) AS held
                FROM w
                """, arguments: StatementArguments(chunk.enumerated().flatMap {
                    [$0.offset, $0.element.pool, $0.element.since] as [any DatabaseValueConvertible]
                })) {
                sums[row["i"] as Int] = row["held"]
            }
            held += sums
        }
        return held
    }

    func spendLog(pool account: String, since: Int64) throws -> [WindowBudget.Spend] {
        // Two indexed reads instead of one OR: the window's settled spends by (account, at), the open ones by the
        // partial index.
        try Row.fetchAll(db, sql: """
            SELECT at, weight, 0 AS open FROM limiter_spends WHERE account = ?1 AND at > ?2 AND open = 0
            UNION ALL
            SELECT at, weight, 1 AS open FROM limiter_spends WHERE account = ?1 AND open = 1
            """, arguments: [account, since])
            .map { WindowBudget.Spend(at: $0["at"], weight: $0["weight"], open: $0["open"]) }
    }

    func markDispatched(_ calls: [Int64], runner: String, at: Int64) throws -> Set<Int64> {
        var marked = Set<Int64>()
        for chunk in calls.chunked(500) {
            marked.formUnion(try Int64.fetchAll(db, sql: """
                UPDATE calls SET dispatched_at = ?
                WHERE id IN (\(placeholders(chunk.count))) AND lease_owner = ? AND state = 'in_flight'
                RETURNING id
                """, arguments: StatementArguments([at] + chunk + [runner] as [any DatabaseValueConvertible])))
        }
        return marked
    }

    func insertSpends(_ spends: [NewSpend]) throws {
        for chunk in spends.chunked(400) {
            try db.execute(sql: """
                INSERT INTO limiter_spends (account, call_id, at, weight, open, owner, sent_at)
                VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                """, arguments: StatementArguments(chunk.flatMap {
                    [$0.pool, $0.call, $0.at, $0.weight, $0.open, $0.owner, $0.sentAt] as [(any DatabaseValueConvertible)?]
                }))
        }
    }

    func insertSpend(_ spend: NewSpend) throws -> Int64 {
        try insertSpends([spend])
        return db.lastInsertedRowID
    }

    func noteCoolDown(account: String, pool: String, from: Int64, until: Int64) throws {
        let pool = PoolKey.display(pool)
        try db.execute(sql: """
            UPDATE cooldown_history SET until_at = MAX(until_at, ?) WHERE account = ? AND pool = ? AND until_at >= ?
            """, arguments: [until, account, pool, from])
        if db.changesCount == 0 {
            try db.execute(sql: "INSERT INTO cooldown_history (account, pool, from_at, until_at) VALUES (?, ?, ?, ?)",
                           arguments: [account, pool, from, until])
        }
    }

    func endCoolDowns(account: String, pool: String, at: Int64) throws {
        try db.execute(sql: "UPDATE cooldown_history SET until_at = ? WHERE account = ? AND pool = ? AND until_at > ?",
                       arguments: [at, account, PoolKey.display(pool), at])
    }

    func settleSpend(_ id: Int64, at: Int64) throws {
        try db.execute(sql: "UPDATE limiter_spends SET open = 0, at = MAX(at, ?) WHERE id = ?", arguments: [at, id])
    }

    func deleteSettledSpends(before: [String: Int64]) throws {
        for chunk in Array(before).chunked(400) {
            try db.execute(sql: """
                WITH w(account, before) AS (VALUES \(Array(repeating: "(?, ?)", count: chunk.count).joined(separator: ", ")))
                DELETE FROM limiter_spends
                WHERE open = 0 AND account IN (SELECT account FROM w)
                  AND at <= (SELECT before FROM w WHERE w.account = limiter_spends.account)
                """, arguments: StatementArguments(chunk.flatMap { [$0.key, $0.value] as [any DatabaseValueConvertible] }))
        }
    }

    func latestSpend(call: Int64, owner: String, pool: String) throws -> (id: Int64, weight: Int)? {
        try Row.fetchOne(db, sql: """
            SELECT id, weight FROM limiter_spends WHERE call_id = ? AND owner = ? AND account = ?
            ORDER BY id DESC LIMIT 1
            """, arguments: [call, owner, pool]).map { ($0["id"], $0["weight"]) }
    }

    func weightSent(pool account: String, after: Int64, beforeSpend spendID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT COALESCE(SUM(weight), 0) FROM limiter_spends
            WHERE account = ?1 AND at > ?2 AND COALESCE(sent_at, at) > ?2 AND id < ?3
            """, arguments: [account, after, spendID]) ?? 0
    }

    func acceptedSpends(pool account: String, after: Int64, through: Int64) throws -> [(at: Int64, weight: Int)] {
        try Row.fetchAll(db, sql: """
            SELECT at, weight FROM limiter_spends
            WHERE account = ? AND at > ? AND at <= ? AND open = 0 AND accepted = 1 ORDER BY at
            """, arguments: [account, after, through]).map { ($0["at"], $0["weight"]) }
    }
}

/// `?,?,...`: `count` parameters for an `IN (...)` list.
func placeholders(_ count: Int) -> String {
    Array(repeating: "?", count: count).joined(separator: ",")
}

extension Array {
    /// Consecutive slices of at most `size` elements (statements have a bound on their parameters).
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
