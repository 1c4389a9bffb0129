import GRDB
import PacerCore
import PacerStorage

/// Operating runs: one call's detail, a run's calls page by page, retry, cancel, prune.
extension SQLiteStore {
    public func callDetail(_ call: Int64) throws -> CallDetail? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT c.run_id, c.id, r.job, c.account, c.method, c.path, c.params, c.body, c.state, c.attempts,
                       c.call_key, res.http_status, res.code, res.data, res.error, res.finished_at
                FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                WHERE c.id = ?
                """, arguments: [call]) else { return nil }
            let attempts = try Row.fetchAll(db, sql: """
                SELECT attempt, runner, started_at, latency_ms, http_status, code, classification, message
                FROM attempts WHERE call_id = ? ORDER BY id
                """, arguments: [call]).map { a in
                AttemptRecord(attempt: a["attempt"], runner: a["runner"], startedAt: a["started_at"],
                              latencyMilliseconds: a["latency_ms"], httpStatus: a["http_status"], code: a["code"],
                              classification: a["classification"], message: a["message"])
            }
            return CallDetail(record: Self.resultRecord(row), body: row["body"], attempts: attempts)
        }
    }

    static func resultRecord(_ row: Row) -> ResultRecord {
        ResultRecord(run: row["run_id"], call: row["id"], job: row["job"], account: row["account"],
                     method: row["method"], path: row["path"], params: row["params"],
                     state: CallState(rawValue: row["state"]) ?? .queued, attempts: row["attempts"],
                     httpStatus: row["http_status"], code: row["code"], data: row["data"], error: row["error"],
                     finishedAtMilliseconds: row["finished_at"], key: row["call_key"])
    }

    public func calls(run: Int64, state: CallState?, code: String?, after: Int64?, limit: Int) throws -> [ResultRecord] {
        try pool.read { db in
            try Self.requireRun(db, run)
            return try Row.fetchAll(db, sql: """
                SELECT c.run_id, c.id, r.job, c.account, c.method, c.path, c.params, c.state, c.attempts, c.call_key,
                       res.http_status, res.code, res.data, res.error, res.finished_at
                FROM calls c JOIN runs r ON r.id = c.run_id LEFT JOIN results res ON res.call_id = c.id
                WHERE c.run_id = ?1 AND (?2 IS NULL OR c.state = ?2) AND (?3 IS NULL OR res.code = ?3) AND c.id > ?4
                ORDER BY c.id LIMIT ?5
                """, arguments: [run, state?.rawValue, code, after ?? 0, limit]).map(Self.resultRecord)
        }
    }

    static func requireRun(_ db: Database, _ run: Int64) throws {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run]) != nil else {
            throw StoreError(.notFound, "no run \(run)")
        }
    }

    public func prune(finishedBefore: Int64) throws -> PruneSummary {
        let summary = try writeImmediate { db in
            let runs = try Int64.fetchAll(db, sql: """
                SELECT r.id FROM runs r
                WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id AND c.state IN ('queued', 'retrying', 'in_flight'))
                  AND COALESCE((SELECT MAX(res.finished_at) FROM calls c JOIN results res ON res.call_id = c.id
                                WHERE c.run_id = r.id) < ?, r.created_at < ?)
                """, arguments: [finishedBefore + wallToSteady, finishedBefore]) // results on the store's clock
            var calls = 0
            for run in runs {
                calls += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE run_id = ?", arguments: [run]) ?? 0
                try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [run]) // calls, tries, results cascade
            }
            // The dashboard's history before the same instant (on the store's clock).
            try db.execute(sql: "DELETE FROM limiter_history WHERE bucket_start < ? AND bucket_start + width_ms < ?",
                           arguments: [finishedBefore + wallToSteady, finishedBefore + wallToSteady])
            try db.execute(sql: "DELETE FROM cooldown_history WHERE until_at < ?", arguments: [finishedBefore + wallToSteady])
            return PruneSummary(runs: runs.count, calls: calls)
        }
        // The space goes back to the file system with VACUUM (outside any transaction). It rewrites the whole file
        // under the write lock, which would stall runners past their stale threshold: only while none is
        // registered. Its failure (a full disk: it needs a copy's worth) leaves the deletion done.
        var result = summary
        if summary.runs > 0 {
            let runners = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runners") ?? 0 }
            if runners == 0 {
                result.spaceReturned = (try? pool.writeWithoutTransaction { try $0.execute(sql: "VACUUM") }) != nil
            }
        }
        return result
    }
}
