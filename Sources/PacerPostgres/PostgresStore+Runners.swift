import PacerCore
import PacerStorage
import PostgresNIO
import PacerLimits

/// Runners, leases, claims and recovery.
extension PostgresStore {
    @discardableResult
    public func registerRunner(_ runner: RunnerIdentity, now: () -> Int64) throws -> Int64 {
        try transaction { tx in
            let at = try tx.now(now)
            try tx.execute("""
                INSERT INTO runners (id, host, pid, started_at, heartbeat_at)
                VALUES (\(runner.id), \(runner.host), \(Int64(runner.pid)), \(at), \(at))
                ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
                    heartbeat_at = excluded.heartbeat_at
                """)
            return at
        }
    }

    public func heartbeat(runner: String, now: () -> Int64, leaseMilliseconds: Int64) throws -> Int64? {
        settleReleasesOwed(runner: runner)
        return try transaction { tx in
            let at = try tx.now(now)
            // Leases are not extended here (SQLite does): no one reads their expiry (a live runner's calls are
            // never taken by the clock alone), and rewriting every in-flight row each second would lock calls in
            // another order than completions do, and deadlock with them.
            guard try tx.execute("UPDATE runners SET heartbeat_at = \(at) WHERE id = \(runner)") == 1 else { return nil }
            return at
        }
    }

    public func unregisterRunner(_ runner: String) throws {
        try transaction { tx in try tx.execute("DELETE FROM runners WHERE id = \(runner)") }
    }

    /// Throws `runnerDeclaredDead` unless `runner` is registered. `FOR KEY SHARE` keeps the row until we commit:
    /// a recovery on another machine that condemns this runner (a DELETE) waits for our transaction, then sees what
    /// it did (a call marked dispatched is recovered as dispatched, never as unsent). The weakest lock that does:
    /// our own heartbeat (an UPDATE of a non-key column) goes on beside it instead of queueing behind our claims.
    static func requireRegistered(_ tx: PostgresTransaction, _ runner: String) throws {
        guard try tx.row("SELECT 1 FROM runners WHERE id = \(runner) FOR KEY SHARE") != nil else {
            throw StoreError(.runnerDeclaredDead, "runner \(runner) was declared dead by another runner")
        }
    }

    public func claim(_ requests: [ClaimRequest], runner: String, nowMilliseconds: Int64,
                      leaseUntil: Int64) throws -> [ClaimedBatch] {
        guard !requests.isEmpty else { return [] }
        // If the connection is lost during COMMIT, the claim may have been made without our knowing which calls it
        // holds: they would stay leased to this live runner, unsent, until it exits. So the calls are given back
        // (on another connection) whenever the claim fails after choosing them; if it never committed, that
        // changes nothing.
        // If that release fails too (the network still down), they are owed: given back at this runner's next
        // claim or heartbeat, so they never stay leased to a live runner that does not know it holds them.
        settleReleasesOwed(runner: runner)
        var chosen: [Int64] = []
        do {
            return try claimOnce(requests, runner: runner, nowMilliseconds: nowMilliseconds,
                                 leaseUntil: leaseUntil) { chosen = $0 }
        } catch {
            if !chosen.isEmpty, (try? release(chosen, runner: runner)) == nil {
                releasesOwed.withLock { $0[runner, default: []].formUnion(chosen) }
            }
            throw error
        }
    }

    /// Gives back the calls a failed claim left leased to `runner` (see `claim`); what cannot be given back now
    /// stays owed.
    func settleReleasesOwed(runner: String) {
        guard let owed = releasesOwed.withLock({ $0.removeValue(forKey: runner) }), !owed.isEmpty else { return }
        if (try? release(Array(owed), runner: runner)) == nil {
            releasesOwed.withLock { $0[runner, default: []].formUnion(owed) }
        }
    }

    /// Two statements whatever the number of accounts: round trips, not rows, are what cost on a server, and a
    /// runner over a thousand accounts claims for all of them at once.
    private func claimOnce(_ requests: [ClaimRequest], runner: String, nowMilliseconds: Int64, leaseUntil: Int64,
                           chose: ([Int64]) -> Void) throws -> [ClaimedBatch] {
        try transaction { tx in
            try Self.requireRegistered(tx, runner)
            let (now, shift) = try tx.now(caller: nowMilliseconds)
            // An account asked for twice (never, from one runner's workers) gets the larger count, once.
            var wanted: [String: Int64] = [:], excluded: [String: String] = [:]
            for request in requests {
                wanted[request.account] = max(wanted[request.account] ?? 0, Int64(request.max))
                excluded[request.account] = request.excluding.joined(separator: "\n")
            }
            var accounts: [String] = [], offsets: [String: Int64] = [:] // accounts: the known ones not paused
            for row in try tx.rows("""
                SELECT a.name, a.paused_reason IS NULL, COALESCE(p.clock_offset_ms, 0)
                FROM accounts a LEFT JOIN account_pacing p ON p.account = a.name
                WHERE a.name = ANY(\(Array(wanted.keys))::text[])
                """) {
                let name = try row[0].decode(String.self)
                offsets[name] = try row[2].decode(Int64.self)
                if try row[1].decode(Bool.self) { accounts.append(name) }
            }
            var byAccount: [String: [ClaimedCall]] = [:]
            if !accounts.isEmpty {
                let maxes = accounts.map { wanted[$0]! }, skips = accounts.map { excluded[$0] ?? "" }
                // SKIP LOCKED: a call another machine is claiming at this moment is simply not ours this turn.
                // Due retries first (`calls_retrying`), then calls never tried, in the order they became due, up to
                // what is left of each account's count: a call that failed keeps its place. (PostgreSQL refuses
                // FOR UPDATE under UNION, hence two updates; they see the same snapshot and take disjoint states.)
                let calls = try tx.rows("""
                    WITH retried AS (
                        UPDATE calls SET state = 'in_flight', lease_owner = \(runner), lease_expires_at = \(leaseUntil.shifted(by: shift)),
                            dispatched_at = NULL
                        WHERE id IN (SELECT c.id FROM unnest(\(accounts)::text[], \(maxes)::bigint[], \(skips)::text[]) AS r(account, max, skip)
                                     CROSS JOIN LATERAL (
                                         SELECT id FROM calls
                                         WHERE account = r.account AND state = 'retrying' AND next_attempt_at <= \(now)
                                           AND NOT COALESCE(pools, '-') = ANY(string_to_array(r.skip, E'\\n'))
                                         ORDER BY next_attempt_at, id LIMIT r.max
                                         FOR UPDATE SKIP LOCKED) c)
                        RETURNING *),
                    urgent AS (
                        UPDATE calls SET state = 'in_flight', lease_owner = \(runner), lease_expires_at = \(leaseUntil.shifted(by: shift)),
                            dispatched_at = NULL
                        WHERE id IN (SELECT c.id FROM unnest(\(accounts)::text[], \(maxes)::bigint[], \(skips)::text[]) AS r(account, max, skip)
                                     LEFT JOIN (SELECT account, COUNT(*) AS n FROM retried GROUP BY account) t
                                            ON t.account = r.account
                                     CROSS JOIN LATERAL (
                                         SELECT id FROM calls
                                         WHERE account = r.account AND state = 'queued' AND priority > 0
                                           AND next_attempt_at <= \(now)
                                           AND NOT COALESCE(pools, '-') = ANY(string_to_array(r.skip, E'\\n'))
                                         ORDER BY priority DESC, next_attempt_at, id
                                         LIMIT GREATEST(0, r.max - COALESCE(t.n, 0))
                                         FOR UPDATE SKIP LOCKED) c)
                        RETURNING *),
                    fresh AS (
                        UPDATE calls SET state = 'in_flight', lease_owner = \(runner), lease_expires_at = \(leaseUntil.shifted(by: shift)),
                            dispatched_at = NULL
                        WHERE id IN (SELECT c.id FROM unnest(\(accounts)::text[], \(maxes)::bigint[], \(skips)::text[]) AS r(account, max, skip)
                                     LEFT JOIN (SELECT account, COUNT(*) AS n
                                                FROM (SELECT account FROM retried UNION ALL SELECT account FROM urgent) x
                                                GROUP BY account) t
                                            ON t.account = r.account
                                     CROSS JOIN LATERAL (
                                         SELECT id FROM calls
                                         WHERE account = r.account AND state = 'queued' AND priority <= 0
                                           AND next_attempt_at <= \(now)
                                           AND NOT COALESCE(pools, '-') = ANY(string_to_array(r.skip, E'\\n'))
                                         ORDER BY next_attempt_at, id
                                         LIMIT GREATEST(0, r.max - COALESCE(t.n, 0))
                                         FOR UPDATE SKIP LOCKED) c)
                        RETURNING *),
                    claimed AS (SELECT *, 0 AS pass FROM retried UNION ALL SELECT *, 1 AS pass FROM urgent
                                UNION ALL SELECT *, 2 AS pass FROM fresh)
                    SELECT c.*, r.retry_attempts, r.backoff_min_ms, r.backoff_max_ms, r.overrides
                    FROM claimed c JOIN runs r ON r.id = c.run_id
                    ORDER BY c.pass, c.next_attempt_at, c.id
                    """).map(Self.claimed(from:))
                chose(calls.map(\.id))
                for call in calls { byAccount[call.account, default: []].append(call) }
            }
            var handed = Set<String>()
            return requests.map { request in
                let calls = handed.insert(request.account).inserted ? byAccount[request.account] ?? [] : []
                // A full claim may have left more (not looked for: it would cost a round trip).
                return ClaimedBatch(calls: calls, clockOffsetMilliseconds: offsets[request.account] ?? 0,
                                    mayHaveMore: calls.count >= request.max)
            }
        }
    }

    static func claimed(from row: PostgresRandomAccessRow) throws -> ClaimedCall {
        var overrides: [String: String] = [:]
        if let text = try row.get("overrides", as: String?.self), case .object(let members) = try JSONValue(parsing: text) {
            for m in members { overrides[m.key] = m.value.plainText }
        }
        return ClaimedCall(
            id: try row.get("id"), run: try row.get("run_id"), account: try row.get("account"),
            method: HTTPMethod(rawValue: try row.get("method")) ?? .get, path: try row.get("path"),
            params: try row.get("params"), body: try row.get("body"), weight: try row.get("weight", as: Int.self),
            idempotent: try row.get("idempotent"), attempts: try row.get("attempts", as: Int.self),
            lastClass: try row.get("last_class"),
            retry: RetryPolicy(attempts: try row.get("retry_attempts", as: Int.self),
                               minimumBackoffMilliseconds: try row.get("backoff_min_ms"),
                               maximumBackoffMilliseconds: try row.get("backoff_max_ms")),
            key: try row.get("call_key"), keyed: try row.get("keyed"),
            lookup: LookupReason(rawValue: try row.get("lookup_pending", as: Int.self)),
            maybeDoneBy: try row.get("maybe_done_by", as: Int?.self),
            pools: PoolDemand(text: try row.get("pools", as: String?.self)),
            overrides: overrides)
    }
}
