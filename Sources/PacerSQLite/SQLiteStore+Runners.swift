import GRDB
import PacerCore
import PacerStorage
import PacerLimits

/// Runners, leases and claims (recovery and release: `Recovering.swift` in PacerStorage, over `SQLiteCallRows`).
extension SQLiteStore {
    @discardableResult
    public func registerRunner(_ runner: RunnerIdentity, now: () -> Int64) throws -> Int64 {
        try writeImmediate { db in
            let at = self.now(now)
            try db.execute(sql: """
                INSERT OR REPLACE INTO runners (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [runner.id, runner.host, Int(runner.pid), at, at])
            return at
        }
    }

    public func heartbeat(runner: String, now: () -> Int64, leaseMilliseconds: Int64) throws -> Int64? {
        try writeImmediate { db in
            let at = self.now(now)
            try db.cachedStatement(sql: "UPDATE runners SET heartbeat_at = ? WHERE id = ?").execute(arguments: [at, runner])
            guard db.changesCount == 1 else { return nil }
            if keepsItsOwnClock { // where the next boot's clock starts (`HostClock.anchor`)
                try db.cachedStatement(sql: "UPDATE host_clock SET latest_ms = ?").execute(arguments: [at])
            }
            try db.cachedStatement(sql: """
                UPDATE calls SET lease_expires_at = ? WHERE lease_owner = ? AND state = 'in_flight'
                """).execute(arguments: [at + leaseMilliseconds, runner])
            return at
        }
    }

    public func unregisterRunner(_ runner: String) throws {
        try writeImmediate { db in try db.execute(sql: "DELETE FROM runners WHERE id = ?", arguments: [runner]) }
    }

    /// Throws `runnerDeclaredDead` unless `runner` is registered: the fence that keeps a runner that woke up
    /// after being declared dead from claiming or sending anything.
    static func requireRegistered(_ db: Database, _ runner: String) throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM runners WHERE id = ?"), arguments: [runner]) != nil else {
            throw StoreError(.runnerDeclaredDead, "runner \(runner) was declared dead by another runner")
        }
    }

    public func claim(_ requests: [ClaimRequest], runner: String, nowMilliseconds: Int64,
                      leaseUntil: Int64) throws -> [ClaimedBatch] {
        guard !requests.isEmpty else { return [] }
        return try writeImmediate { db in
            try Self.requireRegistered(db, runner)
            // The caller's instants, moved onto the store's clock (see `SQLiteStore`).
            let now = self.now { nowMilliseconds }, leaseUntil = leaseUntil.shifted(by: now - nowMilliseconds)
            // Cached statements: claims come once per account turn, and preparing SQL (with GRDB's authorizer)
            // costs more than running it.
            let account = try db.cachedStatement(sql: """
                SELECT a.paused_reason IS NULL, COALESCE(p.clock_offset_ms, 0)
                FROM accounts a LEFT JOIN account_pacing p ON p.account = a.name WHERE a.name = ?
                """)
            // Leases up to a count of an account's due calls in `states` (each predicate as an index names it), but
            // for `excluded` demands (`ClaimRequest.excluding`), highest priority first where `byPriority`.
            func lease(_ states: String, excluded: Int = 0, byPriority: Bool = false) throws -> Statement {
                let skip = excluded == 0 ? "" : " AND COALESCE(pools, '-') NOT IN (\(placeholders(excluded)))"
                return try db.cachedStatement(sql: """
                    UPDATE calls SET state = 'in_flight', lease_owner = ?, lease_expires_at = ?, dispatched_at = NULL
                    WHERE id IN (SELECT id FROM calls
                                 WHERE account = ? AND \(states) AND next_attempt_at <= ?\(skip)
                                 ORDER BY \(byPriority ? "priority DESC, " : "")next_attempt_at, id LIMIT ?)
                    RETURNING id
                    """)
            }
            let remaining = try db.cachedStatement(sql: """
                SELECT EXISTS (SELECT 1 FROM calls
                               WHERE account = ? AND state IN ('queued', 'retrying') AND next_attempt_at <= ?)
                """)
            return try requests.map { request in
                guard let row = try Row.fetchOne(account, arguments: [request.account]) else {
                    return ClaimedBatch(calls: [], clockOffsetMilliseconds: 0, mayHaveMore: false)
                }
                let offset: Int64 = row[1]
                guard row[0] as Bool else { return ClaimedBatch(calls: [], clockOffsetMilliseconds: offset, mayHaveMore: false) }
                // Due retries first (`calls_retrying`, small), then the runs with a priority, highest first
                // (`calls_priority`, small), then the rest in the order they became due: a call that failed keeps its
                // place instead of going behind every call queued after it.
                let n = request.excluding.count
                var ids: [Int64] = []
                for (states, byPriority) in [("state = 'retrying'", false), ("state = 'queued' AND priority > 0", true),
                                             ("state IN ('queued', 'retrying')", false)] where ids.count < request.max {
                    let arguments: [any DatabaseValueConvertible] = [runner, leaseUntil, request.account, now]
                        + request.excluding + [request.max - ids.count]
                    ids += try Int64.fetchAll(lease(states, excluded: n, byPriority: byPriority),
                                              arguments: StatementArguments(arguments))
                }
                guard !ids.isEmpty else { return ClaimedBatch(calls: [], clockOffsetMilliseconds: offset, mayHaveMore: false) }
                // In the order claimed (retries first): the worker spends from the front.
                let order = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
                let calls = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT \(Self.claimedColumns)
                    FROM calls c JOIN runs r ON r.id = c.run_id
                    WHERE c.id IN (\(placeholders(ids.count)))
                    """), arguments: StatementArguments(ids)).map(Self.claimed(from:))
                    .sorted { order[$0.id]! < order[$1.id]! }
                // A full claim looks once more (one index probe), so the caller knows whether to come back.
                let more = try ids.count == request.max && Bool.fetchOne(remaining, arguments: [request.account, now]) == true
                return ClaimedBatch(calls: calls, clockOffsetMilliseconds: offset, mayHaveMore: more)
            }
        }
    }

    /// The columns `claimed(from:)` reads, by position (looking columns up by name cost more than the claim).
    static let claimedColumns = """
        c.id, c.run_id, c.account, c.method, c.path, c.params, c.body, c.weight, c.idempotent, c.attempts,
        c.last_class, r.retry_attempts, r.backoff_min_ms, r.backoff_max_ms, c.call_key, c.keyed, c.lookup_pending,
        c.maybe_done_by, r.overrides, c.pools
        """

    static func claimed(from row: Row) throws -> ClaimedCall {
        var overrides: [String: String] = [:]
        if let text: String = row[18], case .object(let members) = try JSONValue(parsing: text) {
            for m in members { overrides[m.key] = m.value.plainText }
        }
        return ClaimedCall(
            id: row[0], run: row[1], account: row[2],
            method: HTTPMethod(rawValue: row[3]) ?? .get, path: row[4], params: row[5],
            body: row[6], weight: row[7], idempotent: row[8], attempts: row[9],
            lastClass: row[10],
            retry: RetryPolicy(attempts: row[11], minimumBackoffMilliseconds: row[12],
                               maximumBackoffMilliseconds: row[13]),
            key: row[14], keyed: row[15], lookup: LookupReason(rawValue: row[16]),
            maybeDoneBy: row[17], pools: PoolDemand(text: row[19]),
            overrides: overrides)
    }
}
