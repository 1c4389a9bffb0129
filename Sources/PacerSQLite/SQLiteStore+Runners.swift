import GRDB
import PacerCore
import PacerStorage
import PacerLimits

/// Runners, leases and recovery.
extension SQLiteStore {
    @discardableResult
    public func registerRunner(_ runner: RunnerIdentity, now: () -> Int64) throws -> Int64 {
        try writeImmediate { db in
            let at = now()
            try db.execute(sql: """
                INSERT OR REPLACE INTO runners (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [runner.id, runner.host, Int(runner.pid), at, at])
            return at
        }
    }

    public func heartbeat(runner: String, now: () -> Int64, leaseMilliseconds: Int64) throws -> Int64? {
        try writeImmediate { db in
            let at = now()
            try db.cachedStatement(sql: "UPDATE runners SET heartbeat_at = ? WHERE id = ?").execute(arguments: [at, runner])
            guard db.changesCount == 1 else { return nil }
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

    public func recoverAbandoned(now clock: () -> Int64, isDead: (RunnerRecord, Int64) -> Bool) throws -> Recovery {
        try writeImmediate { db in
            let now = clock()
            var dead: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, host, pid, heartbeat_at FROM runners") {
                let record = RunnerRecord(identity: RunnerIdentity(id: row["id"], host: row["host"], pid: Int32(row["pid"] as Int)),
                                          heartbeatAt: row["heartbeat_at"])
                if isDead(record, now) { dead.append(record.identity.id) }
            }
            for id in dead { try db.execute(sql: "DELETE FROM runners WHERE id = ?", arguments: [id]) }
            // A dead owner's requests will never be answered to us, and one it had handed to its HTTP client may
            // still leave a little later: their tokens come back a window after that grace.
            try db.execute(sql: """
                UPDATE limiter_spends SET open = 0, at = MAX(at, ?)
                WHERE open = 1 AND (owner IS NULL OR owner NOT IN (SELECT id FROM runners))
                """, arguments: [now + WindowBudget.deadOwnerGraceMilliseconds])
            // Calls leased to a runner that is no longer registered. A live runner's lease is never taken from it
            // by the clock alone: a heartbeat waiting for the write lock must not cost a live runner its calls.
            let orphan = """
                state = 'in_flight' AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT id FROM runners))
                """
            // A dispatched call's try was never recorded by its runner: record it, as abandoned. It counts as an
            // attempt, so a call that kills its runner every time ends `dead` instead of looping forever.
            try db.execute(sql: """
                INSERT INTO attempts (call_id, attempt, runner, started_at, classification, message)
                SELECT id, attempts + 1, COALESCE(lease_owner, '?'), dispatched_at, 'abandoned',
                       'the runner stopped before recording an answer'
                FROM calls WHERE \(orphan) AND dispatched_at IS NOT NULL
                """)
            try db.execute(sql: """
                UPDATE calls SET attempts = attempts + 1, maybe_done_by = attempts + 1
                WHERE \(orphan) AND dispatched_at IS NOT NULL
                """)
            // A keyed call is safe to send again (the provider refuses a second copy of its key), like an idempotent one.
            let uncertain = try Int64.fetchAll(db, sql: """
                SELECT id FROM calls WHERE \(orphan) AND dispatched_at IS NOT NULL AND idempotent = 0 AND keyed = 0
                """)
            try Self.finish(db, uncertain, state: .uncertain, at: now, error: """
                the runner stopped after sending; the outcome is unknown and the call is not idempotent, so it was \
                not sent again
                """)
            let exhausted = try Row.fetchAll(db, sql: """
                SELECT c.id, c.keyed FROM calls c JOIN runs r ON r.id = c.run_id
                WHERE c.\(orphan) AND c.dispatched_at IS NOT NULL AND c.attempts >= r.retry_attempts
                """)
            try Self.finish(db, exhausted.filter { !$0["keyed"] }.map { $0["id"] }, state: .dead, at: now,
                            error: "the runner stopped while this call was in flight on its last allowed attempt")
            // A keyed order out of tries may still have been placed by the abandoned one.
            try Self.finish(db, exhausted.filter { $0["keyed"] }.map { $0["id"] }, state: .uncertain, at: now, error: """
                the runner stopped while this keyed call was in flight on its last allowed attempt; the order may \
                have been placed
                """)
            // A keyed order abandoned in flight is looked up by its key before it is sent again (a runner that
            // cannot look it up sends it again, and the provider refuses a second copy). Not before the grace a
            // request handed to the dead runner's HTTP client has to leave (as for its spend above): a lookup made
            // while that copy is still on its way would miss it and send the order a second time.
            try db.execute(sql: """
                UPDATE calls SET lookup_pending = CASE WHEN lookup_pending = 0 THEN \(LookupReason.probe.rawValue)
                                                      ELSE lookup_pending END,
                    next_attempt_at = ?
                WHERE \(orphan) AND dispatched_at IS NOT NULL AND keyed = 1
                """, arguments: [now + WindowBudget.deadOwnerGraceMilliseconds])
            let requeued = try Int64.fetchAll(db, sql: """
                UPDATE calls SET state = CASE WHEN attempts > 0 OR last_class IS NOT NULL THEN 'retrying' ELSE 'queued' END,
                    next_attempt_at = MAX(next_attempt_at, ?1), lease_owner = NULL, lease_expires_at = NULL,
                    dispatched_at = NULL
                WHERE \(orphan)
                RETURNING id
                """, arguments: [now])
            // Of those, the calls of a run an operator cancelled are not tried again (a keyed order still gets its
            // lookup). Only the calls just put back: nothing else brings a cancelled run's call back to the queue.
            if !requeued.isEmpty {
                let ofCancelledRuns = """
                    id IN (\(requeued.map(String.init).joined(separator: ","))) AND lookup_pending = 0
                    AND run_id IN (SELECT id FROM runs WHERE cancelled_at IS NOT NULL)
                    """
                try db.execute(sql: """
                    INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
                    SELECT id, NULL, NULL, NULL, ?, ? FROM calls WHERE \(ofCancelledRuns)
                    """, arguments: [RetryRules.cancelledError, now])
                try db.execute(sql: "UPDATE calls SET state = 'cancelled' WHERE \(ofCancelledRuns)")
            }
            return Recovery(requeued: requeued.count, uncertain: uncertain.count, dead: exhausted.count,
                            deadRunners: dead)
        }
    }

    /// Ends orphaned calls in a terminal state with a result that says why.
    static func finish(_ db: Database, _ calls: [Int64], state: CallState, at now: Int64, error: String) throws {
        for id in calls {
            try db.execute(sql: """
                INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
                VALUES (?, NULL, NULL, NULL, ?, ?)
                """, arguments: [id, error, now])
            try db.execute(sql: """
                UPDATE calls SET state = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?
                """, arguments: [state.rawValue, id])
        }
    }

    public func claim(_ requests: [ClaimRequest], runner: String, nowMilliseconds now: Int64,
                      leaseUntil: Int64) throws -> [ClaimedBatch] {
        guard !requests.isEmpty else { return [] }
        return try writeImmediate { db in
            try Self.requireRegistered(db, runner)
            // Cached statements: claims come once per account turn, and preparing SQL (with GRDB's authorizer)
            // costs more than running it.
            let account = try db.cachedStatement(sql: """
                SELECT a.paused_reason IS NULL, COALESCE(p.clock_offset_ms, 0)
                FROM accounts a LEFT JOIN account_pacing p ON p.account = a.name WHERE a.name = ?
                """)
            // Leases up to a count of an account's due calls in `states` (each predicate as an index names it).
            func lease(_ states: String) throws -> Statement {
                try db.cachedStatement(sql: """
                    UPDATE calls SET state = 'in_flight', lease_owner = ?, lease_expires_at = ?, dispatched_at = NULL
                    WHERE id IN (SELECT id FROM calls
                                 WHERE account = ? AND \(states) AND next_attempt_at <= ?
                                 ORDER BY next_attempt_at, id LIMIT ?)
                    RETURNING id
                    """)
            }
            // Due retries first (`calls_retrying`, small), then the rest in the order they became due: a call that
            // failed keeps its place instead of going behind every call queued after it.
            let leaseRetries = try lease("state = 'retrying'")
            let leaseAny = try lease("state IN ('queued', 'retrying')")
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
                var ids = try Int64.fetchAll(leaseRetries, arguments: [runner, leaseUntil, request.account, now, request.max])
                if ids.count < request.max {
                    ids += try Int64.fetchAll(leaseAny, arguments: [runner, leaseUntil, request.account, now,
                                                                    request.max - ids.count])
                }
                guard !ids.isEmpty else { return ClaimedBatch(calls: [], clockOffsetMilliseconds: offset, mayHaveMore: false) }
                // In the order claimed (retries first): the worker spends from the front.
                let order = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
                let calls = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT \(Self.claimedColumns)
                    FROM calls c JOIN runs r ON r.id = c.run_id
                    WHERE c.id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
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
        c.maybe_done_by, r.overrides
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
            maybeDoneBy: row[17],
            overrides: overrides)
    }

    public func release(_ calls: [Int64], runner: String) throws {
        guard !calls.isEmpty else { return }
        try writeImmediate { db in
            for id in calls {
                try db.execute(sql: """
                    UPDATE calls SET state = CASE WHEN attempts > 0 OR last_class IS NOT NULL THEN 'retrying' ELSE 'queued' END,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND lease_owner = ? AND state = 'in_flight' AND dispatched_at IS NULL
                    """, arguments: [id, runner])
            }
        }
    }
}
