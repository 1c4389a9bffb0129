import GRDB
import PacerCore
import PacerStorage

/// Account pauses, completions and the queue snapshot.
extension SQLiteStore {
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
        try writeImmediate { db in try Self.complete(db, completions) }
    }

    static func complete(_ db: Database, _ completions: [Completion]) throws {
        // Written only while the call exists: a late answer may come for a call `account remove --purge`
        // deleted meanwhile.
        let attempt = try db.cachedStatement(sql: """
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code,
                                  classification, message)
            SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS (SELECT 1 FROM calls WHERE id = ?1)
            """)
        // The same, for a call whose update just succeeded (it exists; no need to look).
        let ownAttempt = try db.cachedStatement(sql: """
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code,
                                  classification, message)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let update = try db.cachedStatement(sql: """
            UPDATE calls SET state = ?, attempts = ?, next_attempt_at = ?, last_class = ?, lookup_pending = ?,
                maybe_done_by = CASE WHEN ? THEN ? ELSE maybe_done_by END,
                lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL
            WHERE id = ? AND lease_owner = ? AND state = 'in_flight' AND (? IS NULL OR dispatched_at = ?)
            """)
        let result = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        // The provider saw the request before its answer came back: settle this runner's spend for the call
        // at the answer, so its tokens stay spent a window from then. Another runner's spend for the same call
        // (after recovery) is not ours to settle.
        let settle = try db.cachedStatement(sql: """
            UPDATE limiter_spends SET at = MAX(at, ?), open = 0, accepted = ?
            WHERE id = (SELECT MAX(id) FROM limiter_spends WHERE call_id = ? AND owner = ?)
            """)
        // A late answer (this runner was found dead and its calls recovered meanwhile) is still the truth about
        // what the provider did: a call recovery left `uncertain`, or put back in the queue and not sent again
        // yet, or cancelled meanwhile by an operator, takes its final outcome from it instead of staying unknown
        // or being sent twice.
        let late = try db.cachedStatement(sql: """
            UPDATE calls SET state = ?, last_class = ?, lookup_pending = 0
            WHERE id = ? AND lease_owner IS NULL
              AND ((state = 'uncertain' AND EXISTS (SELECT 1 FROM results WHERE call_id = calls.id
                                                    AND (error LIKE 'the runner stopped after sending%'
                                                         OR error LIKE 'the runner stopped while this keyed call%')))
                   OR (state IN ('queued', 'retrying', 'cancelled') AND dispatched_at IS NULL))
            """)
        let cancelled = try db.cachedStatement(sql: """
            UPDATE calls SET state = 'cancelled'
            WHERE id = ? AND state = 'retrying' AND lookup_pending = 0
              AND run_id IN (SELECT id FROM runs WHERE cancelled_at IS NOT NULL)
            """)
        for c in completions {
            try settle.execute(arguments: [c.finishedAt, c.accepted, c.call, c.runner])
            try update.execute(arguments: [c.state.rawValue, c.attempts, c.nextAttemptAt, c.classification,
                                           c.state == .retrying ? c.lookup?.rawValue ?? 0 : 0,
                                           c.mayHaveActed, c.attempts, c.call, c.runner, c.dispatchedAt,
                                           c.dispatchedAt])
            guard db.changesCount == 1 else {
                // The lease was lost. A try that never left changes nothing; a real answer is recorded (unless
                // the call itself was deleted meanwhile, by `account remove --purge`).
                guard c.httpStatus != nil else { continue }
                try attempt.execute(arguments: [c.call, c.attempts, c.runner, c.startedAt, c.latencyMilliseconds,
                                                c.httpStatus, c.code, c.classification,
                                                "late answer, after this runner's calls were recovered"
                                                    + (c.message.map { ": " + $0 } ?? "")])
                // Only an answer that settles the call for good (done, or already done) replaces what
                // recovery decided; a refusal or a failure leaves it to the runner that holds it now.
                guard c.state == .succeeded || c.state == .duplicate else { continue }
                try late.execute(arguments: [c.state.rawValue, c.classification, c.call])
                if db.changesCount == 1 {
                    try result.execute(arguments: [c.call, c.httpStatus, c.code, c.data, c.error, c.finishedAt])
                }
                continue
            }
            try ownAttempt.execute(arguments: [c.call, c.attempts, c.runner, c.startedAt, c.latencyMilliseconds,
                                               c.httpStatus, c.code, c.classification, c.message])
            if c.state.isTerminal {
                try result.execute(arguments: [c.call, c.httpStatus, c.code, c.data, c.error, c.finishedAt])
            } else if c.state == .retrying {
                // Its run was cancelled while it was in flight: it is not tried again.
                try cancelled.execute(arguments: [c.call])
                if db.changesCount == 1 {
                    try result.execute(arguments: [c.call, c.httpStatus, c.code, c.data,
                                                   RetryRules.cancelledError, c.finishedAt])
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
            return QueueSnapshot(unfinished: unfinished, paused: paused)
        }
    }

    /// The accounts that have calls waiting to be claimed, each found with one index probe (a skip-scan over
    /// `calls_runnable`): the cost follows the number of such accounts, never the number of queued calls.
    static let accountsWithRunnableCalls = """
        WITH RECURSIVE runnable(name) AS (
            SELECT (SELECT MIN(account) FROM calls WHERE state IN ('queued', 'retrying'))
            UNION ALL
            SELECT (SELECT MIN(account) FROM calls WHERE state IN ('queued', 'retrying') AND account > runnable.name)
            FROM runnable WHERE runnable.name IS NOT NULL)
        """

    public func hasWork(accounts: [String]?) throws -> Bool {
        try pool.read { db in
            // `--account` filters: " AND column IN (?, ...)", or nothing.
            func only(_ column: String) -> String {
                accounts.map { names in
                    names.isEmpty ? " AND 0" : " AND \(column) IN (\(names.map { _ in "?" }.joined(separator: ",")))"
                } ?? ""
            }
            let filter = StatementArguments(accounts ?? [])
            let anyPaused = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM accounts WHERE paused_reason IS NOT NULL)") ?? false
            // In-flight calls are few (bounded by the runners' concurrency): a plain look is cheap.
            let paused = "account NOT IN (SELECT name FROM accounts WHERE paused_reason IS NOT NULL)"
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM calls WHERE state = 'in_flight' AND \(paused)\(only("account")))",
                                 arguments: filter) == true {
                return true
            }
            if !anyPaused {
                // The common case: the first runnable call answers, one probe of the partial index.
                return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM calls WHERE state IN ('queued', 'retrying')\(only("account")))",
                                         arguments: filter) ?? false
            }
            // A paused account's backlog must not be walked row by row: visit the accounts that have runnable calls.
            return try Bool.fetchOne(db, sql: """
                \(Self.accountsWithRunnableCalls)
                SELECT EXISTS (SELECT 1 FROM runnable WHERE name IS NOT NULL
                                 AND name NOT IN (SELECT name FROM accounts WHERE paused_reason IS NOT NULL)\(only("name")))
                """, arguments: filter) ?? false
        }
    }

    public func nextDue() throws -> [String: Int64] {
        try pool.read { db in
            var due: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                \(Self.accountsWithRunnableCalls)
                SELECT name AS account,
                       (SELECT MIN(next_attempt_at) FROM calls
                        WHERE account = runnable.name AND state IN ('queued', 'retrying')) AS due
                FROM runnable
                WHERE name IS NOT NULL AND name NOT IN (SELECT name FROM accounts WHERE paused_reason IS NOT NULL)
                """) { due[row["account"]] = row["due"] }
            return due
        }
    }
}
