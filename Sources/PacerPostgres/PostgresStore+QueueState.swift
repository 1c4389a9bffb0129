import PacerCore
import PacerStorage
import PostgresNIO

/// The queue at a glance (completions: `Completing.swift` in PacerStorage, over `PostgresCallRows`).
extension PostgresStore {
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
