import PacerCore
import PacerStorage
import PostgresNIO

/// Status, results and summaries.
extension PostgresStore {
    public func status() throws(StoreError) -> StatusReport {
        try typed { try read { tx in
            var runs: [RunStatus] = []
            for row in try tx.rows("""
                SELECT r.id, r.job, r.account, r.created_at, c.state, COUNT(c.id) AS n
                FROM runs r LEFT JOIN calls c ON c.run_id = r.id
                GROUP BY r.id, c.state ORDER BY r.id, c.state
                """) {
                let id = try row.get("id", as: Int64.self)
                if runs.last?.run != id {
                    runs.append(RunStatus(run: id, job: try row.get("job"), account: try row.get("account"),
                                          createdAtMilliseconds: try row.get("created_at"), counts: [:]))
                }
                if let text = try row.get("state", as: String?.self), let state = CallState(rawValue: text) {
                    runs[runs.count - 1].counts[state] = try row.get("n", as: Int.self)
                }
            }
            var perAccount: [String: [CallState: Int]] = [:]
            for run in runs { perAccount[run.account, default: [:]].merge(run.counts, uniquingKeysWith: +) }
            let accounts = try tx.rows("SELECT * FROM accounts ORDER BY name").map { row in
                let account = try Self.account(from: row)
                return AccountStatus(account: account.name, provider: account.provider, limit: account.limit,
                                     pausedReason: account.pausedReason, counts: perAccount[account.name] ?? [:])
            }
            return StatusReport(runs: runs, accounts: accounts)
        } }
    }

    public func finishedSince(_ since: Int64) throws -> [String: Int] {
        try read { tx in
            var out: [String: Int] = [:]
            for row in try tx.rows("""
                SELECT c.account, COUNT(*) AS n FROM results r JOIN calls c ON c.id = r.call_id
                WHERE r.finished_at > \(since) GROUP BY c.account
                """) { out[try row.get("account")] = try row.get("n", as: Int.self) }
            return out
        }
    }

    /// Pages of `resultsPage` records in (run, seq, id) order, so a run of millions is never held at once.
    static let resultsPage: Int64 = 2_000

    public func results(run: Int64?, _ visit: (ResultRecord) throws -> Void) throws {
        var after: (run: Int64, seq: Int64, id: Int64) = (Int64.min, Int64.min, Int64.min)
        while true {
            let page = try read { tx in
                try tx.rows("""
                    SELECT c.run_id, c.seq, c.id, r.job, c.account, c.method, c.path, c.params, c.state, c.attempts,
                           c.call_key, res.http_status, res.code, res.data, res.error, res.finished_at
                    FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                    WHERE (\(run)::bigint IS NULL OR c.run_id = \(run)::bigint)
                      AND (c.run_id, c.seq, c.id) > (\(after.run), \(after.seq), \(after.id))
                    ORDER BY c.run_id, c.seq, c.id LIMIT \(Self.resultsPage)
                    """)
            }
            for row in page {
                after = (try row.get("run_id"), try row.get("seq"), try row.get("id"))
                try visit(ResultRecord(
                    run: after.run, call: after.id, job: try row.get("job"), account: try row.get("account"),
                    method: try row.get("method"), path: try row.get("path"), params: try row.get("params"),
                    state: CallState(rawValue: try row.get("state")) ?? .queued, attempts: try row.get("attempts", as: Int.self),
                    httpStatus: try row.get("http_status", as: Int?.self), code: try row.get("code"),
                    data: try row.get("data"), error: try row.get("error"),
                    finishedAtMilliseconds: try row.get("finished_at"), key: try row.get("call_key")))
            }
            if page.count < Self.resultsPage { return }
        }
    }

    public func resultSummary(run: Int64?, slowest: Int, failures: Int) throws -> ResultSummary {
        try read { tx in
            let byCode = try tx.rows("""
                SELECT c.state, r.code, COUNT(*) AS n FROM calls c LEFT JOIN results r ON r.call_id = c.id
                WHERE (\(run)::bigint IS NULL OR c.run_id = \(run)::bigint)
                GROUP BY c.state, r.code ORDER BY n DESC, c.state, r.code
                """).map {
                ResultSummary.CodeCount(state: CallState(rawValue: try $0.get("state")) ?? .queued, code: try $0.get("code"),
                                        calls: try $0.get("n", as: Int.self))
            }
            let slow = try tx.rows("""
                SELECT a.call_id, c.method, c.path, a.latency_ms, a.classification FROM attempts a
                JOIN calls c ON c.id = a.call_id
                WHERE (\(run)::bigint IS NULL OR c.run_id = \(run)::bigint) AND a.latency_ms IS NOT NULL
                ORDER BY a.latency_ms DESC, a.id LIMIT \(Int64(slowest))
                """).map {
                ResultSummary.SlowTry(call: try $0.get("call_id"), method: try $0.get("method"), path: try $0.get("path"),
                                      latencyMilliseconds: try $0.get("latency_ms"), classification: try $0.get("classification"))
            }
            let failureRows = try tx.rows("""
                SELECT c.id, c.method, c.path, c.state, r.code, r.error FROM calls c
                LEFT JOIN results r ON r.call_id = c.id
                WHERE c.state IN ('failed', 'dead', 'uncertain') AND (\(run)::bigint IS NULL OR c.run_id = \(run)::bigint)
                ORDER BY c.id LIMIT \(Int64(failures))
                """).map {
                ResultSummary.Failure(call: try $0.get("id"), method: try $0.get("method"), path: try $0.get("path"),
                                      state: CallState(rawValue: try $0.get("state")) ?? .failed, code: try $0.get("code"),
                                      error: try $0.get("error"))
            }
            let count = try tx.value("""
                SELECT COUNT(*) FROM calls c
                WHERE c.state IN ('failed', 'dead', 'uncertain') AND (\(run)::bigint IS NULL OR c.run_id = \(run)::bigint)
                """, as: Int.self) ?? 0
            return ResultSummary(byCode: byCode, slowest: slow, failures: failureRows, failureCount: count)
        }
    }
}
