import GRDB
import PacerCore

extension SQLiteStore {
    public func registerRunner(_ runner: RunnerIdentity, nowMilliseconds: Int64) throws {
        try writeImmediate { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO runners (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [runner.id, runner.host, Int(runner.pid), nowMilliseconds, nowMilliseconds])
        }
    }

    public func heartbeat(runner: String, nowMilliseconds: Int64, leaseUntil: Int64) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE runners SET heartbeat_at = ? WHERE id = ?", arguments: [nowMilliseconds, runner])
            try db.execute(sql: """
                UPDATE calls SET lease_expires_at = ? WHERE lease_owner = ? AND state = 'in_flight'
                """, arguments: [leaseUntil, runner])
        }
    }

    public func unregisterRunner(_ runner: String) throws {
        try writeImmediate { db in try db.execute(sql: "DELETE FROM runners WHERE id = ?", arguments: [runner]) }
    }

    public func recoverAbandoned(nowMilliseconds now: Int64, staleBefore: Int64,
                                 isDead: (RunnerIdentity) -> Bool) throws -> Recovery {
        try writeImmediate { db in
            var dead: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, host, pid, heartbeat_at FROM runners") {
                let identity = RunnerIdentity(id: row["id"], host: row["host"], pid: Int32(row["pid"] as Int))
                if (row["heartbeat_at"] as Int64) < staleBefore || isDead(identity) { dead.append(identity.id) }
            }
            for id in dead { try db.execute(sql: "DELETE FROM runners WHERE id = ?", arguments: [id]) }
            // Calls leased to a runner that is gone, or whose lease ran out.
            let orphan = """
                state = 'in_flight' AND (lease_expires_at < ?1 OR lease_owner IS NULL
                    OR lease_owner NOT IN (SELECT id FROM runners))
                """
            // A dispatched call's try was never recorded by its runner: record it, as abandoned.
            try db.execute(sql: """
                INSERT INTO attempts (call_id, attempt, runner, started_at, classification, message)
                SELECT id, attempts + 1, COALESCE(lease_owner, '?'), dispatched_at, 'abandoned',
                       'the runner stopped before recording an answer'
                FROM calls WHERE \(orphan) AND dispatched_at IS NOT NULL
                """, arguments: [now])
            let uncertain = try Int64.fetchAll(db, sql: """
                SELECT id FROM calls WHERE \(orphan) AND dispatched_at IS NOT NULL AND idempotent = 0
                """, arguments: [now])
            for id in uncertain {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
                    VALUES (?, NULL, NULL, NULL, ?, ?)
                    """, arguments: [id, "the runner stopped after sending; the outcome is unknown and the call "
                                     + "is not idempotent, so it was not sent again", now])
            }
            try db.execute(sql: """
                UPDATE calls SET state = 'uncertain', lease_owner = NULL, lease_expires_at = NULL
                WHERE \(orphan) AND dispatched_at IS NOT NULL AND idempotent = 0
                """, arguments: [now])
            try db.execute(sql: """
                UPDATE calls SET state = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END,
                    next_attempt_at = ?1, lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL
                WHERE \(orphan)
                """, arguments: [now])
            return Recovery(requeued: db.changesCount, uncertain: uncertain.count, deadRunners: dead)
        }
    }

    public func claim(account: String, runner: String, nowMilliseconds now: Int64, leaseUntil: Int64,
                      max: Int) throws -> [ClaimedCall] {
        try writeImmediate { db in
            let paused = try String.fetchOne(db, sql: "SELECT paused_reason FROM accounts WHERE name = ?",
                                             arguments: [account])
            guard paused == nil else { return [] }
            let ids = try Int64.fetchAll(db, sql: """
                UPDATE calls SET state = 'in_flight', lease_owner = ?, lease_expires_at = ?, dispatched_at = NULL
                WHERE id IN (SELECT id FROM calls
                             WHERE account = ? AND state IN ('queued', 'retrying') AND next_attempt_at <= ?
                             ORDER BY next_attempt_at, id LIMIT ?)
                RETURNING id
                """, arguments: [runner, leaseUntil, account, now, max])
            guard !ids.isEmpty else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT c.*, r.retry_attempts, r.backoff_min_ms, r.backoff_max_ms, r.overrides
                FROM calls c JOIN runs r ON r.id = c.run_id
                WHERE c.id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
                ORDER BY c.next_attempt_at, c.id
                """, arguments: StatementArguments(ids)).map(Self.claimed(from:))
        }
    }

    static func claimed(from row: Row) throws -> ClaimedCall {
        var overrides: [String: String] = [:]
        if let text: String = row["overrides"], case .object(let members) = try JSONValue(parsing: text) {
            for m in members { overrides[m.key] = m.value.plainText }
        }
        return ClaimedCall(
            id: row["id"], run: row["run_id"], account: row["account"],
            method: HTTPMethod(rawValue: row["method"]) ?? .get, path: row["path"], params: row["params"],
            body: row["body"], weight: row["weight"], idempotent: row["idempotent"], attempts: row["attempts"],
            lastClass: row["last_class"],
            retry: RetryPolicy(attempts: row["retry_attempts"], minimumBackoffMilliseconds: row["backoff_min_ms"],
                               maximumBackoffMilliseconds: row["backoff_max_ms"]),
            overrides: overrides)
    }

    public func release(_ calls: [Int64], runner: String) throws {
        guard !calls.isEmpty else { return }
        try writeImmediate { db in
            for id in calls {
                try db.execute(sql: """
                    UPDATE calls SET state = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ? AND lease_owner = ? AND state = 'in_flight' AND dispatched_at IS NULL
                    """, arguments: [id, runner])
            }
        }
    }

    public func spend(account: String, calls: [(id: Int64, weight: Int)], runner: String, now clock: () -> Int64,
                      windowMilliseconds: Int64, configuredCount: Int) throws -> SpendGrant {
        try writeImmediate { db in
            let now = clock()
            let bucket = try Self.bucket(db, account: account, now: now, windowMilliseconds: windowMilliseconds,
                                         configuredCount: configuredCount)
            if let cooldownUntil = bucket.cooldownUntil {
                return SpendGrant(granted: [], retryAt: cooldownUntil, lost: [])
            }
            var log = bucket.log
            var granted: [Int64] = [], lost: [Int64] = []
            var retryAt: Int64?
            for call in calls {
                if case .wait(let until) = bucket.budget.decide(weight: call.weight, now: now, log: log) {
                    retryAt = until
                    break
                }
                try db.execute(sql: """
                    UPDATE calls SET dispatched_at = ? WHERE id = ? AND lease_owner = ? AND state = 'in_flight'
                    """, arguments: [now, call.id, runner])
                guard db.changesCount == 1 else { lost.append(call.id); continue }
                try db.execute(sql: "INSERT INTO limiter_spends (account, call_id, at, weight) VALUES (?, ?, ?, ?)",
                               arguments: [account, call.id, now, call.weight])
                log.append(.init(at: now, weight: call.weight))
                granted.append(call.id)
            }
            // Spends older than the window no longer matter; trim them now and then (cheap: indexed range).
            if Int.random(in: 0..<64) == 0 {
                try db.execute(sql: "DELETE FROM limiter_spends WHERE account = ? AND at <= ?",
                               arguments: [account, now - windowMilliseconds])
            }
            return SpendGrant(granted: granted, retryAt: retryAt, lost: lost)
        }
    }

    public func reserve(account: String, weight: Int, now clock: () -> Int64, windowMilliseconds: Int64,
                        configuredCount: Int) throws -> Int64? {
        try writeImmediate { db in
            let now = clock()
            let bucket = try Self.bucket(db, account: account, now: now, windowMilliseconds: windowMilliseconds,
                                         configuredCount: configuredCount)
            if let cooldownUntil = bucket.cooldownUntil { return cooldownUntil }
            switch bucket.budget.decide(weight: weight, now: now, log: bucket.log) {
            case .wait(let until): return until
            case .send:
                try db.execute(sql: "INSERT INTO limiter_spends (account, call_id, at, weight) VALUES (?, NULL, ?, ?)",
                               arguments: [account, now, weight])
                return nil
            }
        }
    }

    /// The account's bucket at `now`, read inside the caller's write transaction: the cool-down if one is running,
    /// the capacity its pacing allows, and the spends still inside the window.
    static func bucket(_ db: Database, account: String, now: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> (cooldownUntil: Int64?, budget: WindowBudget, log: [WindowBudget.Spend]) {
        let pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
        let budget = WindowBudget(capacity: pacing.capacity(now: now, windowMilliseconds: windowMilliseconds),
                                  windowMilliseconds: windowMilliseconds)
        let log = try Row.fetchAll(db, sql: "SELECT at, weight FROM limiter_spends WHERE account = ? AND at > ?",
                                   arguments: [account, now - windowMilliseconds])
            .map { WindowBudget.Spend(at: $0["at"], weight: $0["weight"]) }
        return (pacing.cooldownUntil > now ? pacing.cooldownUntil : nil, budget, log)
    }

    static func pacing(_ db: Database, account: String, configuredCount: Int) throws -> Pacing {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM account_pacing WHERE account = ?", arguments: [account])
        else { return Pacing(configured: configuredCount) }
        return Pacing(configured: configuredCount, ceiling: row["ceiling"], ceilingAt: row["ceiling_at"],
                      cooldownUntil: row["cooldown_until"])
    }

    static func savePacing(_ db: Database, account: String, _ pacing: Pacing) throws {
        try db.execute(sql: """
            INSERT INTO account_pacing (account, ceiling, ceiling_at, cooldown_until) VALUES (?, ?, ?, ?)
            ON CONFLICT(account) DO UPDATE SET ceiling = excluded.ceiling, ceiling_at = excluded.ceiling_at,
                cooldown_until = excluded.cooldown_until
            """, arguments: [account, pacing.ceiling, pacing.ceilingAt, pacing.cooldownUntil])
    }

    public func pacing(account: String, nowMilliseconds now: Int64, windowMilliseconds: Int64,
                       configuredCount: Int) throws -> AccountPacing {
        try pool.read { db in
            let pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            let offset = try Int64.fetchOne(db, sql: "SELECT clock_offset_ms FROM account_pacing WHERE account = ?",
                                            arguments: [account]) ?? 0
            let spent = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(weight), 0) FROM limiter_spends WHERE account = ? AND at > ?",
                                         arguments: [account, now - windowMilliseconds]) ?? 0
            return AccountPacing(pacing: pacing, clockOffsetMilliseconds: offset, spentInWindow: spent)
        }
    }

    public func recordRateLimit(account: String, sentAt: Int64, nowMilliseconds now: Int64,
                                retryAfterMilliseconds: Int64?, windowMilliseconds: Int64, configuredCount: Int) throws {
        try writeImmediate { db in
            var pacing = try Self.pacing(db, account: account, configuredCount: configuredCount)
            // What the window held before the refused call left: the provider's real limit is about that much.
            let before = try Int.fetchOne(db, sql: """
                SELECT COALESCE(SUM(weight), 0) FROM limiter_spends WHERE account = ? AND at > ? AND at < ?
                """, arguments: [account, sentAt - windowMilliseconds, sentAt]) ?? 0
            pacing.rateLimited(now: now, sentInWindow: before + 1, retryAfterMilliseconds: retryAfterMilliseconds,
                               windowMilliseconds: windowMilliseconds)
            try Self.savePacing(db, account: account, pacing)
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

    @discardableResult
    public func pauseAccount(_ name: String, reason: String, nowMilliseconds: Int64) throws -> Bool {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE accounts SET paused_reason = ?, paused_at = ? WHERE name = ? AND paused_reason IS NULL",
                           arguments: [reason, nowMilliseconds, name])
            return db.changesCount == 1
        }
    }

    public func resumeAccount(_ name: String) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE accounts SET paused_reason = NULL, paused_at = NULL WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw StoreError(.unknownAccount, "no account named '\(name)'") }
        }
    }

    public func complete(_ completions: [Completion]) throws {
        guard !completions.isEmpty else { return }
        try writeImmediate { db in
            let attempt = try db.makeStatement(sql: """
                INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code,
                                      classification, message)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let update = try db.makeStatement(sql: """
                UPDATE calls SET state = ?, attempts = ?, next_attempt_at = ?, last_class = ?, lease_owner = NULL,
                    lease_expires_at = NULL, dispatched_at = NULL
                WHERE id = ? AND lease_owner = ? AND state = 'in_flight'
                """)
            let result = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """)
            // The provider saw the request before its answer came back: hold the tokens a window from then.
            let heldUntilAnswer = try db.makeStatement(sql: """
                UPDATE limiter_spends SET at = MAX(at, ?)
                WHERE id = (SELECT MAX(id) FROM limiter_spends WHERE call_id = ?)
                """)
            for c in completions {
                try heldUntilAnswer.execute(arguments: [c.finishedAt, c.call])
                try update.execute(arguments: [c.state.rawValue, c.attempts, c.nextAttemptAt, c.classification,
                                               c.call, c.runner])
                guard db.changesCount == 1 else { continue } // the lease was lost: the new holder decides
                try attempt.execute(arguments: [c.call, c.attempts, c.runner, c.startedAt, c.latencyMilliseconds,
                                                c.httpStatus, c.code, c.classification, c.message])
                if c.state.isTerminal {
                    try result.execute(arguments: [c.call, c.httpStatus, c.code, c.data, c.error, c.finishedAt])
                }
            }
        }
    }

    public func snapshot(accounts: [String]?) throws -> QueueSnapshot {
        try pool.read { db in
            var unfinished: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT account, COUNT(*) AS n FROM calls WHERE state IN ('queued', 'retrying', 'in_flight') GROUP BY account
                """) where accounts?.contains(row["account"]) ?? true {
                unfinished[row["account"]] = row["n"]
            }
            var paused: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, paused_reason FROM accounts WHERE paused_reason IS NOT NULL") {
                paused[row["name"]] = row["paused_reason"]
            }
            var nextDue: Int64?
            for row in try Row.fetchAll(db, sql: """
                SELECT account, MIN(next_attempt_at) AS due FROM calls
                WHERE state IN ('queued', 'retrying') GROUP BY account
                """) where paused[row["account"]] == nil && (accounts?.contains(row["account"]) ?? true) {
                let due: Int64 = row["due"]
                nextDue = min(nextDue ?? due, due)
            }
            return QueueSnapshot(unfinished: unfinished, paused: paused, nextDueAt: nextDue)
        }
    }
}
