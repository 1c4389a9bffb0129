import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    public func status() throws(StoreError) -> StatusReport {
        try storeCall {
            try pool.read { db in
                // Counts come from the (run_id, state) index alone.
                var runs: [RunStatus] = []
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT r.id, r.job, r.account, r.created_at, c.state, COUNT(c.id) AS n
                    FROM runs r LEFT JOIN calls c ON c.run_id = r.id
                    GROUP BY r.id, c.state ORDER BY r.id
                    """)
                while let row = try rows.next() {
                    let id: Int64 = row["id"]
                    if runs.last?.run != id {
                        runs.append(RunStatus(run: id, job: row["job"], account: row["account"],
                                              createdAtMilliseconds: row["created_at"], counts: [:]))
                    }
                    if let stateText: String = row["state"], let state = CallState(rawValue: stateText) {
                        runs[runs.count - 1].counts[state] = row["n"]
                    }
                }
                var perAccount: [String: [CallState: Int]] = [:]
                for run in runs { perAccount[run.account, default: [:]].merge(run.counts, uniquingKeysWith: +) }
                let accounts = try Row.fetchAll(db, sql: "SELECT * FROM accounts ORDER BY name").map { row in
                    let account = try Self.account(from: row)
                    return AccountStatus(account: account.name, provider: account.provider, limit: account.limit,
                                         pausedReason: account.pausedReason, counts: perAccount[account.name] ?? [:])
                }
                return StatusReport(runs: runs, accounts: accounts)
            }
        }
    }

    public func finishedSince(_ since: Int64) throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT c.account, COUNT(*) AS n FROM results r JOIN calls c ON c.id = r.call_id
                WHERE r.finished_at > ? GROUP BY c.account
                """, arguments: [since + wallToSteady]) { out[row["account"]] = row["n"] }
            return out
        }
    }

    public func results(run: Int64?, _ visit: (ResultRecord) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT c.run_id, c.id, r.job, c.account, c.method, c.path, c.params, c.state, c.attempts, c.call_key,
                       res.http_status, res.code, res.data, res.error, res.finished_at
                FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                WHERE (?1 IS NULL OR c.run_id = ?1)
                ORDER BY c.run_id, c.seq
                """, arguments: [run])
            while let row = try rows.next() {
                try visit(ResultRecord(
                    run: row["run_id"], call: row["id"], job: row["job"], account: row["account"],
                    method: row["method"], path: row["path"], params: row["params"],
                    state: CallState(rawValue: row["state"]) ?? .queued, attempts: row["attempts"],
                    httpStatus: row["http_status"], code: row["code"], data: row["data"], error: row["error"],
                    finishedAtMilliseconds: row["finished_at"], key: row["call_key"]))
            }
        }
    }
}
