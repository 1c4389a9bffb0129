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

    public func retry(run: Int64, states: Set<CallState>, nowMilliseconds now: Int64) throws -> RunChange {
        try RetryRules.check(states)
        return try writeImmediate { db in
            try Self.requireRun(db, run)
            let unfinished = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM calls WHERE run_id = ? AND state IN ('queued', 'retrying', 'in_flight')
                """, arguments: [run]) ?? 0
            try RetryRules.requireFinished(run: run, unfinished: unfinished)
            let names = states.map(\.rawValue).sorted()
            let list = names.map { _ in "?" }.joined(separator: ",")
            try db.execute(sql: "DELETE FROM results WHERE call_id IN (SELECT id FROM calls WHERE run_id = ? AND state IN (\(list)))",
                           arguments: StatementArguments([run] + names))
            // A keyed order that ended uncertain is looked up by its key before it is sent again.
            try db.execute(sql: """
                UPDATE calls SET lookup_pending = CASE WHEN keyed = 1 AND state = 'uncertain'
                                                      THEN \(LookupReason.probe.rawValue) ELSE 0 END,
                    state = 'queued', attempts = 0, next_attempt_at = ?, last_class = NULL, lease_owner = NULL,
                    lease_expires_at = NULL, dispatched_at = NULL
                WHERE run_id = ? AND state IN (\(list))
                """, arguments: StatementArguments([now, run] + names))
            let changed = db.changesCount
            try db.execute(sql: "UPDATE runs SET cancelled_at = NULL WHERE id = ?", arguments: [run])
            return RunChange(run: run, calls: changed)
        }
    }

    public func cancel(run: Int64, nowMilliseconds now: Int64) throws -> RunChange {
        try writeImmediate { db in
            try Self.requireRun(db, run)
            try db.execute(sql: "UPDATE runs SET cancelled_at = ? WHERE id = ?", arguments: [now, run])
            // A keyed order waiting to be looked up by its key is finishing a try that may have placed it: it goes
            // on until the lookup tells (then, if it would be sent again, it is cancelled; see `complete`).
            // Claimed by a runner but not sent yet counts as waiting: its spend then finds the call gone.
            let waiting = """
                run_id = ? AND lookup_pending = 0
                AND (state IN ('queued', 'retrying') OR (state = 'in_flight' AND dispatched_at IS NULL))
                """
            try db.execute(sql: """
                INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
                SELECT id, NULL, NULL, NULL, ?, ? FROM calls WHERE \(waiting)
                """, arguments: [RetryRules.cancelledError, now, run])
            try db.execute(sql: """
                UPDATE calls SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL WHERE \(waiting)
                """, arguments: [run])
            return RunChange(run: run, calls: db.changesCount)
        }
    }

    public func prune(finishedBefore: Int64) throws -> PruneSummary {
        let summary = try writeImmediate { db in
            let runs = try Int64.fetchAll(db, sql: """
                SELECT r.id FROM runs r
                WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id AND c.state IN ('queued', 'retrying', 'in_flight'))
                  AND COALESCE((SELECT MAX(res.finished_at) FROM calls c JOIN results res ON res.call_id = c.id
                                WHERE c.run_id = r.id), r.created_at) < ?
                """, arguments: [finishedBefore])
            var calls = 0
            for run in runs {
                calls += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE run_id = ?", arguments: [run]) ?? 0
                try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [run]) // calls, tries, results cascade
            }
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
