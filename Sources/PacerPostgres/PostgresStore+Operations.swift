import Foundation
import PacerCore
import PacerStorage
import PostgresNIO

/// Operating runs: one call's detail, a run's calls page by page, retry, cancel, prune (the SQLite store's rules).
extension PostgresStore {
    static let recordColumns = """
        c.run_id, c.id, r.job, c.account, c.method, c.path, c.params, c.state, c.attempts, c.call_key,
        res.http_status, res.code, res.data, res.error, res.finished_at
        """

    static func resultRecord(_ row: PostgresRandomAccessRow) throws -> ResultRecord {
        ResultRecord(run: try row.get("run_id"), call: try row.get("id"), job: try row.get("job"),
                     account: try row.get("account"), method: try row.get("method"), path: try row.get("path"),
                     params: try row.get("params"), state: CallState(rawValue: try row.get("state")) ?? .queued,
                     attempts: try row.get("attempts", as: Int.self), httpStatus: try row.get("http_status", as: Int?.self),
                     code: try row.get("code"), data: try row.get("data"), error: try row.get("error"),
                     finishedAtMilliseconds: try row.get("finished_at"), key: try row.get("call_key"))
    }

    public func callDetail(_ call: Int64) throws -> CallDetail? {
        try read { tx in
            guard let row = try tx.row("""
                SELECT \(unescaped: Self.recordColumns), c.body
                FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                WHERE c.id = \(call)
                """) else { return nil }
            let attempts = try tx.rows("""
                SELECT attempt, runner, started_at, latency_ms, http_status, code, classification, message
                FROM attempts WHERE call_id = \(call) ORDER BY id
                """).map { a in
                AttemptRecord(attempt: try a.get("attempt", as: Int.self), runner: try a.get("runner"),
                              startedAt: try a.get("started_at"), latencyMilliseconds: try a.get("latency_ms"),
                              httpStatus: try a.get("http_status", as: Int?.self), code: try a.get("code"),
                              classification: try a.get("classification"), message: try a.get("message"))
            }
            return CallDetail(record: try Self.resultRecord(row), body: try row.get("body"), attempts: attempts)
        }
    }

    public func calls(run: Int64, state: CallState?, code: String?, after: Int64?, limit: Int) throws -> [ResultRecord] {
        try read { tx in
            try Self.requireRun(tx, run)
            return try tx.rows("""
                SELECT \(unescaped: Self.recordColumns)
                FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                WHERE c.run_id = \(run) AND (\(state?.rawValue)::text IS NULL OR c.state = \(state?.rawValue)::text)
                  AND (\(code)::text IS NULL OR res.code = \(code)::text) AND c.id > \(after ?? 0)
                ORDER BY c.id LIMIT \(Int64(limit))
                """).map(Self.resultRecord)
        }
    }

    static func requireRun(_ tx: PostgresTransaction, _ run: Int64) throws {
        guard try tx.row("SELECT 1 FROM runs WHERE id = \(run)") != nil else { throw StoreError(.notFound, "no run \(run)") }
    }

    public func prune(finishedBefore: Int64) throws -> PruneSummary {
        let summary = try transaction { tx in
            let runs = try tx.rows("""
                SELECT r.id, (SELECT COUNT(*) FROM calls c WHERE c.run_id = r.id) AS calls FROM runs r
                WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id AND c.state IN ('queued', 'retrying', 'in_flight'))
                  AND COALESCE((SELECT MAX(res.finished_at) FROM calls c JOIN results res ON res.call_id = c.id
                                WHERE c.run_id = r.id), r.created_at) < \(finishedBefore)
                FOR UPDATE OF r SKIP LOCKED
                """)
            let ids = try runs.map { try $0.get("id", as: Int64.self) }
            if !ids.isEmpty { try tx.execute("DELETE FROM runs WHERE id = ANY(\(ids))") } // calls, tries, results cascade
            // The dashboard's history before the same instant.
            try tx.execute("DELETE FROM limiter_history WHERE bucket_start < \(finishedBefore) AND bucket_start + width_ms < \(finishedBefore)")
            try tx.execute("DELETE FROM cooldown_history WHERE until_at < \(finishedBefore)")
            return PruneSummary(runs: ids.count, calls: try runs.reduce(0) { $0 + (try $1.get("calls", as: Int.self)) })
        }
        // VACUUM marks the space free for new rows and gives the tables' empty tail back (it cannot run inside a
        // transaction; VACUUM FULL would lock the tables against every runner, so it is left to the operator).
        var result = summary
        if summary.runs > 0 { result.spaceReturned = (try? vacuum(["calls", "attempts", "results", "runs"])) != nil }
        return result
    }

    /// `VACUUM` of some tables, outside any transaction.
    func vacuum(_ tables: [String]) throws {
        do { try pool.runOutsideTransaction("VACUUM " + tables.joined(separator: ", ")) } catch { throw plain(error) }
    }
}
