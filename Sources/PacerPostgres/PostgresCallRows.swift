import PacerCore
import PacerStorage
import PostgresNIO

extension PostgresStore {
    public func callTransaction<T>(_ body: (any CallRows) throws -> T) throws -> T {
        try transaction { tx in try body(PostgresCallRows(tx: tx)) }
    }

    /// Serialises recoveries: two machines finding the same dead runner at once must not both record its
    /// abandoned tries (each statement of a READ COMMITTED transaction sees the other's work only once committed).
    static let recoveryLockKey: Int64 = 0x7061_6365_7202
}

/// The rows of calls, runners and their spends on PostgreSQL: each operation one statement (one round trip) for
/// the whole batch. Optional values travel as arrays with a flag beside them (postgres-nio binds no NULLs inside
/// arrays).
struct PostgresCallRows: CallRows {
    let tx: PostgresTransaction

    func now(_ caller: () -> Int64) throws -> Int64 { try tx.now(caller) }

    /// What the rules need of a call's run, selected from `runs` as `r`.
    private static let runColumns = "id, retry_attempts, cancelled_at IS NOT NULL AS cancelled"
    /// The columns `callRow` reads, over `calls c` joined to its run `r`. `lockCalls` and `orphanedCalls` lock the
    /// calls' runs first, shared and in id order: the order a cancel takes them in (runs, then calls), so a cancel
    /// in progress is waited for and then seen. Then the calls, in id order, so a completion and a recovery of the
    /// same calls queue instead of interleaving.
    private static let callColumns = """
        c.id, c.state, c.attempts, c.next_attempt_at, c.last_class, c.lookup_pending, c.maybe_done_by,
        c.lease_owner, c.lease_expires_at, c.dispatched_at, c.idempotent, c.keyed, r.retry_attempts, r.cancelled
        """

    private static func callRow(_ row: PostgresRandomAccessRow) throws -> CallRow {
        CallRow(id: try row.get("id"), state: CallState(rawValue: try row.get("state")) ?? .queued,
                attempts: Int(try row.get("attempts", as: Int64.self)), nextAttemptAt: try row.get("next_attempt_at"),
                lastClass: try row.get("last_class"),
                lookup: LookupReason(rawValue: Int(try row.get("lookup_pending", as: Int64.self))),
                maybeDoneBy: try row.get("maybe_done_by", as: Int64?.self).map(Int.init),
                leaseOwner: try row.get("lease_owner"), leaseExpiresAt: try row.get("lease_expires_at"),
                dispatchedAt: try row.get("dispatched_at"), idempotent: try row.get("idempotent"),
                keyed: try row.get("keyed"), retryAttempts: Int(try row.get("retry_attempts", as: Int64.self)),
                runCancelled: try row.get("cancelled"))
    }

    func lockCalls(_ ids: [Int64]) throws -> [CallRow] {
        guard !ids.isEmpty else { return [] }
        return try tx.rows("""
            WITH r AS (SELECT \(unescaped: Self.runColumns) FROM runs
                       WHERE id IN (SELECT run_id FROM calls WHERE id = ANY(\(ids)::bigint[])) ORDER BY id FOR SHARE)
            SELECT \(unescaped: Self.callColumns) FROM calls c JOIN r ON r.id = c.run_id
            WHERE c.id = ANY(\(ids)::bigint[]) ORDER BY c.id FOR UPDATE OF c
            """).map(Self.callRow)
    }

    func resultErrors(_ ids: [Int64]) throws -> [Int64: String] {
        guard !ids.isEmpty else { return [:] }
        var errors: [Int64: String] = [:]
        for row in try tx.rows("""
            SELECT call_id, error FROM results WHERE call_id = ANY(\(ids)::bigint[]) AND error IS NOT NULL
            """) {
            errors[try row.get("call_id")] = try row.get("error")
        }
        return errors
    }

    func orphanedCalls() throws -> [CallRow] {
        let orphan = "state = 'in_flight' AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT id FROM runners))"
        return try tx.rows("""
            WITH r AS (SELECT \(unescaped: Self.runColumns) FROM runs
                       WHERE id IN (SELECT run_id FROM calls WHERE \(unescaped: orphan)) ORDER BY id FOR SHARE)
            SELECT \(unescaped: Self.callColumns) FROM calls c JOIN r ON r.id = c.run_id
            WHERE c.\(unescaped: orphan) ORDER BY c.id FOR UPDATE OF c
            """).map(Self.callRow)
    }

    func writeCalls(_ rows: [CallRow]) throws {
        guard !rows.isEmpty else { return }
        try tx.execute("""
            UPDATE calls c SET state = u.state, attempts = u.attempts, next_attempt_at = u.next,
                last_class = CASE WHEN u.has_class THEN u.class END, lookup_pending = u.lookup,
                maybe_done_by = CASE WHEN u.has_done THEN u.done END,
                lease_owner = CASE WHEN u.has_owner THEN u.owner END,
                lease_expires_at = CASE WHEN u.has_expiry THEN u.expiry END,
                dispatched_at = CASE WHEN u.has_dispatch THEN u.dispatch END
            FROM unnest(\(rows.map(\.id))::bigint[], \(rows.map(\.state.rawValue))::text[],
                        \(rows.map { Int64($0.attempts) })::bigint[], \(rows.map(\.nextAttemptAt))::bigint[],
                        \(rows.map { $0.lastClass ?? "" })::text[], \(rows.map { $0.lastClass != nil })::boolean[],
                        \(rows.map { Int64($0.lookup?.rawValue ?? 0) })::bigint[],
                        \(rows.map { Int64($0.maybeDoneBy ?? 0) })::bigint[], \(rows.map { $0.maybeDoneBy != nil })::boolean[],
                        \(rows.map { $0.leaseOwner ?? "" })::text[], \(rows.map { $0.leaseOwner != nil })::boolean[],
                        \(rows.map { $0.leaseExpiresAt ?? 0 })::bigint[], \(rows.map { $0.leaseExpiresAt != nil })::boolean[],
                        \(rows.map { $0.dispatchedAt ?? 0 })::bigint[], \(rows.map { $0.dispatchedAt != nil })::boolean[])
                 AS u(id, state, attempts, next, class, has_class, lookup, done, has_done, owner, has_owner, expiry,
                      has_expiry, dispatch, has_dispatch)
            WHERE c.id = u.id
            """)
    }

    func insertAttempts(_ tries: [AttemptRow]) throws {
        guard !tries.isEmpty else { return }
        try tx.execute("""
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code, classification, message)
            SELECT u.call, u.attempt, u.runner, CASE WHEN u.has_started THEN u.started END,
                   CASE WHEN u.has_latency THEN u.latency END, CASE WHEN u.has_status THEN u.status END,
                   CASE WHEN u.has_code THEN u.code END, u.class, CASE WHEN u.has_message THEN u.message END
            FROM unnest(\(tries.map(\.call))::bigint[], \(tries.map { Int64($0.attempt) })::bigint[],
                        \(tries.map(\.runner))::text[],
                        \(tries.map { $0.startedAt ?? 0 })::bigint[], \(tries.map { $0.startedAt != nil })::boolean[],
                        \(tries.map { $0.latencyMilliseconds ?? 0 })::bigint[], \(tries.map { $0.latencyMilliseconds != nil })::boolean[],
                        \(tries.map { Int64($0.httpStatus ?? 0) })::bigint[], \(tries.map { $0.httpStatus != nil })::boolean[],
                        \(tries.map { $0.code ?? "" })::text[], \(tries.map { $0.code != nil })::boolean[],
                        \(tries.map(\.classification))::text[],
                        \(tries.map { $0.message ?? "" })::text[], \(tries.map { $0.message != nil })::boolean[])
                 AS u(call, attempt, runner, started, has_started, latency, has_latency, status, has_status, code,
                      has_code, class, message, has_message)
            WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = u.call AND a.runner = u.runner
                                AND a.started_at IS NOT DISTINCT FROM CASE WHEN u.has_started THEN u.started END
                                AND a.classification = u.class)
            """)
    }

    func writeResults(_ results: [ResultRow]) throws {
        guard !results.isEmpty else { return }
        try tx.execute("""
            INSERT INTO results (call_id, http_status, code, data, error, finished_at)
            SELECT u.call, CASE WHEN u.has_status THEN u.status END, CASE WHEN u.has_code THEN u.code END,
                   CASE WHEN u.has_data THEN u.data END, CASE WHEN u.has_error THEN u.error END, u.finished
            FROM unnest(\(results.map(\.call))::bigint[],
                        \(results.map { Int64($0.httpStatus ?? 0) })::bigint[], \(results.map { $0.httpStatus != nil })::boolean[],
                        \(results.map { $0.code ?? "" })::text[], \(results.map { $0.code != nil })::boolean[],
                        \(results.map { $0.data ?? "" })::text[], \(results.map { $0.data != nil })::boolean[],
                        \(results.map { $0.error ?? "" })::text[], \(results.map { $0.error != nil })::boolean[],
                        \(results.map(\.finishedAt))::bigint[])
                 AS u(call, status, has_status, code, has_code, data, has_data, error, has_error, finished)
            ON CONFLICT (call_id) DO UPDATE SET http_status = excluded.http_status, code = excluded.code,
                data = excluded.data, error = excluded.error, finished_at = excluded.finished_at
            """)
    }

    func spends(of calls: [(call: Int64, owner: String)]) throws -> [CallSpend] {
        var seen = Set<String>()
        let pairs = calls.filter { seen.insert("\($0.call) \($0.owner)").inserted }
        guard !pairs.isEmpty else { return [] }
        return try tx.rows("""
            SELECT s.id, s.call_id, s.owner, s.at, s.open, s.account
            FROM limiter_spends s JOIN unnest(\(pairs.map(\.call))::bigint[], \(pairs.map(\.owner))::text[])
                 AS u(call, owner) ON s.call_id = u.call AND s.owner = u.owner
            """).map {
            CallSpend(id: try $0.get("id"), call: try $0.get("call_id"), owner: try $0.get("owner"),
                      at: try $0.get("at"), open: try $0.get("open"), pool: try $0.get("account"))
        }
    }

    func settleSpends(_ settlements: [SpendSettlement]) throws {
        guard !settlements.isEmpty else { return }
        try tx.execute("""
            UPDATE limiter_spends s SET open = FALSE, at = GREATEST(s.at, u.at), accepted = u.accepted
            FROM unnest(\(settlements.map(\.id))::bigint[], \(settlements.map(\.at))::bigint[],
                        \(settlements.map(\.accepted))::boolean[]) AS u(id, at, accepted)
            WHERE s.id = u.id
            """)
    }

    func settleUnownedSpends(at: Int64) throws {
        try tx.execute("""
            UPDATE limiter_spends SET open = FALSE, at = GREATEST(at, \(at))
            WHERE open AND (owner IS NULL OR owner NOT IN (SELECT id FROM runners))
            """)
    }

    /// One recovery at a time; a runner that finds another recovering skips its turn (the other does the work)
    /// rather than queue its heartbeat loop behind it.
    func takeRecoveryTurn() throws -> Bool {
        try tx.value("SELECT pg_try_advisory_xact_lock(\(PostgresStore.recoveryLockKey))", as: Bool.self) == true
    }

    func runners() throws -> [RunnerRecord] {
        try tx.rows("SELECT id, host, pid, heartbeat_at FROM runners ORDER BY id").map {
            RunnerRecord(identity: RunnerIdentity(id: try $0.get("id"), host: try $0.get("host"),
                                                  pid: Int32(try $0.get("pid", as: Int64.self))),
                         heartbeatAt: try $0.get("heartbeat_at"))
        }
    }

    /// The DELETE waits for any transaction of theirs still holding their row (a spend in progress, see
    /// `requireRegistered`): what it marked dispatched is then seen by the statements that follow.
    func deleteRunners(_ records: [RunnerRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        return try tx.rows("""
            DELETE FROM runners r USING unnest(\(records.map(\.identity.id))::text[],
                                               \(records.map(\.heartbeatAt))::bigint[]) AS u(id, heartbeat)
            WHERE r.id = u.id AND r.heartbeat_at = u.heartbeat
            RETURNING r.id
            """).map { try $0.get("id", as: String.self) }.sorted()
    }

    func announceWork() throws { try tx.announceWork() }

    func lockRun(_ run: Int64) throws -> Bool {
        try tx.row("SELECT 1 FROM runs WHERE id = \(run) FOR UPDATE") != nil
    }

    func setRunCancelled(_ run: Int64, at: Int64?) throws {
        try tx.execute("UPDATE runs SET cancelled_at = \(at) WHERE id = \(run)")
    }

    func countCalls(run: Int64, in states: Set<CallState>) throws -> Int {
        try tx.value("""
            SELECT COUNT(*) FROM calls WHERE run_id = \(run) AND state = ANY(\(states.map(\.rawValue).sorted())::text[])
            """, as: Int.self) ?? 0
    }

    /// The run itself is locked already (`lockRun`).
    func runCalls(run: Int64, in states: Set<CallState>, after: Int64, limit: Int) throws -> [CallRow] {
        try tx.rows("""
            SELECT \(unescaped: Self.callColumns)
            FROM calls c JOIN (SELECT \(unescaped: Self.runColumns) FROM runs
                               WHERE id = \(run)) r ON r.id = c.run_id
            WHERE c.run_id = \(run) AND c.state = ANY(\(states.map(\.rawValue).sorted())::text[]) AND c.id > \(after)
            ORDER BY c.id LIMIT \(Int64(limit)) FOR UPDATE OF c
            """).map(Self.callRow)
    }

    func deleteResults(_ calls: [Int64]) throws {
        guard !calls.isEmpty else { return }
        try tx.execute("DELETE FROM results WHERE call_id = ANY(\(calls)::bigint[])")
    }
}
