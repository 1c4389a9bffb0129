import GRDB
import PacerCore
import PacerStorage

/// Account pauses and the queue at a glance.
extension SQLiteStore {
    @discardableResult
    public func pauseAccount(_ name: String, reason: String, nowMilliseconds: Int64) throws -> Bool {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE accounts SET paused_reason = ?, paused_at = ? WHERE name = ? AND paused_reason IS NULL",
                           arguments: [reason, self.now { nowMilliseconds }, name])
            return db.changesCount == 1
        }
    }

    public func resumeAccount(_ name: String) throws {
        try writeImmediate { db in
            try db.execute(sql: "UPDATE accounts SET paused_reason = NULL, paused_at = NULL WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw StoreError(.unknownAccount, "no account named '\(name)'") }
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
                    names.isEmpty ? " AND 0" : " AND \(column) IN (\(placeholders(names.count)))"
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
