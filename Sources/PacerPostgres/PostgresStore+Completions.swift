import PacerCore
import PacerStorage
import PostgresNIO

/// Completions: each try recorded, its call moved on, its spend settled (the same rules as the SQLite store).
extension PostgresStore {
    public func complete(_ completions: [Completion]) throws {
        guard !completions.isEmpty else { return }
        try transaction { tx in
            let serverNow = try tx.now(caller: completions.map(\.finishedAt).max() ?? 0).now
            // Runners hand their instants on the store's clock (they measure its offset at each heartbeat, erring
            // late). An answer cannot have come after now: a later instant is taken as now.
            let batch = completions.map { original -> Completion in
                var c = original
                if clockSource == .database {
                    c.finishedAt = min(c.finishedAt, serverNow)
                    c.startedAt = min(c.startedAt, c.finishedAt)
                }
                return c
            }
            // A few set-based statements for the whole batch (round trips, not rows, are what cost on a server).
            // Each call appears once in a batch (a call's next try is claimed only after this one is written);
            // should one appear twice, the batch is written in stretches where each call appears once, in order,
            // so the later answer finds the earlier one's outcome as it would row by row.
            var requeued: [Int64] = []
            for stretch in Self.stretchesOfDistinctCalls(batch) {
                let moved = try Self.moveOn(tx, stretch)
                for c in stretch {
                    if moved.contains(c.call) {
                        if c.state == .retrying { requeued.append(c.call) }
                    } else {
                        try Self.recordLateAnswer(tx, c)
                    }
                }
            }
            guard !requeued.isEmpty else { return }
            // A call whose run was cancelled while it was in flight is not tried again (as on SQLite). The runs are
            // read under a share lock: a cancel in progress (it holds the run's row) is waited for and then seen.
            try tx.execute("""
                SELECT 1 FROM runs WHERE id IN (SELECT run_id FROM calls WHERE id = ANY(\(requeued))) FOR SHARE
                """)
            let cancelled = try tx.rows("""
                UPDATE calls SET state = 'cancelled'
                WHERE id = ANY(\(requeued)) AND state = 'retrying' AND lookup_pending = 0
                  AND run_id IN (SELECT id FROM runs WHERE cancelled_at IS NOT NULL)
                RETURNING id
                """).map { try $0.get("id", as: Int64.self) }
            try Self.recordCancelled(tx, cancelled, at: serverNow)
            if cancelled.count < requeued.count { try tx.execute("NOTIFY pacer_work") }
        }
    }

    /// Settles the batch's spends, moves on the calls whose lease is still ours, and records their tries and
    /// results; returns the calls moved on. The others (a lease lost) are left to `recordLateAnswer`. Each call
    /// appears once in `batch`.
    static func moveOn(_ tx: PostgresTransaction, _ batch: [Completion]) throws -> Set<Int64> {
        let calls = batch.map(\.call), runners = batch.map(\.runner)
        let dispatched = batch.map { $0.dispatchedAt ?? 0 }, knownDispatch = batch.map { $0.dispatchedAt != nil }
        let states = batch.map(\.state.rawValue), attempts = batch.map { Int64($0.attempts) }
        let next = batch.map(\.nextAttemptAt), classes = batch.map(\.classification)
        let lookups = batch.map { Int64($0.state == .retrying ? $0.lookup?.rawValue ?? 0 : 0) }
        let acted = batch.map(\.mayHaveActed)
        // Only the try this answer is for: the lease is ours and (when the answer says which) the call's dispatch
        // mark is this try's, so an answer written again after its first commit's reply was lost never lands on
        // a later try of the same call.
        let moved = Set(try tx.rows("""
            UPDATE calls c SET state = u.state, attempts = u.attempts, next_attempt_at = u.next, last_class = u.class,
                lookup_pending = u.lookup, maybe_done_by = CASE WHEN u.acted THEN u.attempts ELSE c.maybe_done_by END,
                lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL
            FROM unnest(\(calls)::bigint[], \(runners)::text[], \(states)::text[], \(attempts)::bigint[],
                        \(next)::bigint[], \(classes)::text[], \(lookups)::bigint[], \(acted)::boolean[],
                        \(dispatched)::bigint[], \(knownDispatch)::boolean[])
                 AS u(id, runner, state, attempts, next, class, lookup, acted, dispatched, known)
            WHERE c.id = u.id AND c.lease_owner = u.runner AND c.state = 'in_flight'
              AND (NOT u.known OR c.dispatched_at = u.dispatched)
            RETURNING c.id
            """).map { try $0.get("id", as: Int64.self) })
        // Settle the moved calls' open spends of ours, up to this try's (a spend whose commit's reply was lost and
        // was made again left two): their tokens come back a window after the answer.
        let settled = batch.filter { moved.contains($0.call) }
        if !settled.isEmpty {
            try tx.execute("""
                UPDATE limiter_spends s SET at = GREATEST(s.at, u.finished), open = FALSE, accepted = u.accepted
                FROM unnest(\(settled.map(\.call))::bigint[], \(settled.map(\.runner))::text[],
                            \(settled.map(\.finishedAt))::bigint[], \(settled.map { $0.dispatchedAt ?? Int64.max })::bigint[],
                            \(settled.map(\.accepted))::boolean[])
                     AS u(call, runner, finished, dispatched, accepted)
                WHERE s.call_id = u.call AND s.owner = u.runner AND s.open AND s.at <= u.dispatched
                """)
        }
        let done = batch.filter { moved.contains($0.call) }
        guard !done.isEmpty else { return moved }
        // Optional values travel as arrays with a flag beside them (postgres-nio binds no NULLs inside arrays).
        let tries = done
        try tx.execute("""
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code, classification, message)
            SELECT u.call, u.attempt, u.runner, u.started, CASE WHEN u.has_latency THEN u.latency END,
                   CASE WHEN u.has_status THEN u.status END, CASE WHEN u.has_code THEN u.code END, u.class,
                   CASE WHEN u.has_message THEN u.message END
            FROM unnest(\(tries.map(\.call))::bigint[], \(tries.map { Int64($0.attempts) })::bigint[],
                        \(tries.map(\.runner))::text[], \(tries.map(\.startedAt))::bigint[],
                        \(tries.map { $0.latencyMilliseconds ?? 0 })::bigint[], \(tries.map { $0.latencyMilliseconds != nil })::boolean[],
                        \(tries.map { Int64($0.httpStatus ?? 0) })::bigint[], \(tries.map { $0.httpStatus != nil })::boolean[],
                        \(tries.map { $0.code ?? "" })::text[], \(tries.map { $0.code != nil })::boolean[],
                        \(tries.map(\.classification))::text[],
                        \(tries.map { $0.message ?? "" })::text[], \(tries.map { $0.message != nil })::boolean[])
                 AS u(call, attempt, runner, started, latency, has_latency, status, has_status, code, has_code, class,
                      message, has_message)
            -- once: a batch written again after a lost COMMIT answer must not record its tries twice
            WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = u.call AND a.runner = u.runner
                                AND a.started_at = u.started AND a.classification = u.class)
            """)
        let finals = done.filter { $0.state.isTerminal }
        if !finals.isEmpty {
            try tx.execute("""
                INSERT INTO results (call_id, http_status, code, data, error, finished_at)
                SELECT u.call, CASE WHEN u.has_status THEN u.status END, CASE WHEN u.has_code THEN u.code END,
                       CASE WHEN u.has_data THEN u.data END, CASE WHEN u.has_error THEN u.error END, u.finished
                FROM unnest(\(finals.map(\.call))::bigint[],
                            \(finals.map { Int64($0.httpStatus ?? 0) })::bigint[], \(finals.map { $0.httpStatus != nil })::boolean[],
                            \(finals.map { $0.code ?? "" })::text[], \(finals.map { $0.code != nil })::boolean[],
                            \(finals.map { $0.data ?? "" })::text[], \(finals.map { $0.data != nil })::boolean[],
                            \(finals.map { $0.error ?? "" })::text[], \(finals.map { $0.error != nil })::boolean[],
                            \(finals.map(\.finishedAt))::bigint[])
                     AS u(call, status, has_status, code, has_code, data, has_data, error, has_error, finished)
                ON CONFLICT (call_id) DO UPDATE SET http_status = excluded.http_status, code = excluded.code,
                    data = excluded.data, error = excluded.error, finished_at = excluded.finished_at
                """)
        }
        return moved
    }

    /// Consecutive stretches of `batch` in which no call appears twice.
    static func stretchesOfDistinctCalls(_ batch: [Completion]) -> [[Completion]] {
        var stretches: [[Completion]] = [[]]
        var seen = Set<Int64>()
        for c in batch {
            if !seen.insert(c.call).inserted {
                stretches.append([])
                seen = [c.call]
            }
            stretches[stretches.count - 1].append(c)
        }
        return stretches
    }

    /// An answer whose try no longer holds its call (its runner was found dead, or a later try holds it), as the
    /// SQLite store records it. The provider saw the request before this answer: our latest spend for the call,
    /// open or settled by recovery, holds its token a window from now. A real answer is still recorded, and one
    /// that settles the call for good replaces what recovery decided.
    static func recordLateAnswer(_ tx: PostgresTransaction, _ c: Completion) throws {
        try tx.execute("""
            UPDATE limiter_spends SET at = GREATEST(at, \(c.finishedAt)), open = FALSE, accepted = \(c.accepted)
            WHERE id = (SELECT MAX(id) FROM limiter_spends WHERE call_id = \(c.call) AND owner = \(c.runner)
                        AND (\(c.dispatchedAt)::bigint IS NULL OR at <= \(c.dispatchedAt)::bigint OR NOT open))
            """)
        guard c.httpStatus != nil else { return }
        try recordAttempt(tx, c, message: "late answer, after this runner's calls were recovered"
                          + (c.message.map { ": " + $0 } ?? ""))
        guard c.state == .succeeded || c.state == .duplicate else { return }
        let replaced = try tx.execute("""
            UPDATE calls SET state = \(c.state.rawValue), last_class = \(c.classification), lookup_pending = 0
            WHERE id = \(c.call) AND lease_owner IS NULL
              AND ((state = 'uncertain' AND EXISTS (SELECT 1 FROM results WHERE call_id = calls.id
                       AND (error LIKE 'the runner stopped after sending%'
                            OR error LIKE 'the runner stopped while this keyed call%')))
                   OR (state IN ('queued', 'retrying', 'cancelled') AND dispatched_at IS NULL))
            """)
        if replaced == 1 { try recordResult(tx, c) }
    }

    static func recordAttempt(_ tx: PostgresTransaction, _ c: Completion, message: String?) throws {
        try tx.execute("""
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code, classification, message)
            SELECT \(c.call), \(Int64(c.attempts)), \(c.runner), \(c.startedAt), \(c.latencyMilliseconds),
                   \(c.httpStatus.map(Int64.init)), \(c.code), \(c.classification), \(message)
            WHERE EXISTS (SELECT 1 FROM calls WHERE id = \(c.call))
              -- once: a batch written again after a lost COMMIT answer must not record its tries twice
              AND NOT EXISTS (SELECT 1 FROM attempts WHERE call_id = \(c.call) AND runner = \(c.runner)
                                AND started_at = \(c.startedAt) AND classification = \(c.classification))
            """)
    }

    static func recordResult(_ tx: PostgresTransaction, _ c: Completion) throws {
        try tx.execute("""
            INSERT INTO results (call_id, http_status, code, data, error, finished_at)
            VALUES (\(c.call), \(c.httpStatus.map(Int64.init)), \(c.code), \(c.data), \(c.error), \(c.finishedAt))
            ON CONFLICT (call_id) DO UPDATE SET http_status = excluded.http_status, code = excluded.code,
                data = excluded.data, error = excluded.error, finished_at = excluded.finished_at
            """)
    }

    public func snapshot(accounts: [String]?) throws -> QueueSnapshot {
        try read { tx in
            var unfinished: [String: Int] = [:]
            for row in try tx.rows("""
                SELECT account, COUNT(*) AS n FROM calls WHERE state IN ('queued', 'retrying', 'in_flight') GROUP BY account
                """) {
                let account = try row.get("account", as: String.self)
                if accounts?.contains(account) ?? true { unfinished[account] = try row.get("n", as: Int.self) }
            }
            var paused: [String: String] = [:]
            for row in try tx.rows("SELECT name, paused_reason FROM accounts WHERE paused_reason IS NOT NULL") {
                paused[try row.get("name")] = try row.get("paused_reason")
            }
            return QueueSnapshot(unfinished: unfinished, paused: paused)
        }
    }

    public func hasWork(accounts: [String]?) throws -> Bool {
        try read { tx in
            // In-flight calls are few (bounded by the runners' concurrency); runnable ones are found with one
            // probe of the partial index per active account.
            try tx.value("""
                SELECT EXISTS (SELECT 1 FROM calls c WHERE c.state = 'in_flight'
                                 AND (\(accounts)::text[] IS NULL OR c.account = ANY(\(accounts)::text[]))
                                 AND c.account NOT IN (SELECT name FROM accounts WHERE paused_reason IS NOT NULL))
                    OR EXISTS (SELECT 1 FROM accounts a WHERE a.paused_reason IS NULL
                                 AND (\(accounts)::text[] IS NULL OR a.name = ANY(\(accounts)::text[]))
                                 AND EXISTS (SELECT 1 FROM calls c WHERE c.account = a.name
                                               AND c.state IN ('queued', 'retrying')))
                """, as: Bool.self) ?? false
        }
    }

    public func nextDue() throws -> [String: Int64] {
        try read { tx in
            var due: [String: Int64] = [:]
            // One index probe per active account (the partial index is ordered by due time): the cost follows the
            // accounts, never the queued calls.
            for row in try tx.rows("""
                SELECT a.name, (SELECT c.next_attempt_at FROM calls c
                                WHERE c.account = a.name AND c.state IN ('queued', 'retrying')
                                ORDER BY c.next_attempt_at LIMIT 1) AS due
                FROM accounts a WHERE a.paused_reason IS NULL
                """) {
                if let at = try row.get("due", as: Int64?.self) { due[try row.get("name")] = at }
            }
            return due
        }
    }
}
