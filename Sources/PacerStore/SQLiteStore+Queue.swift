import GRDB
import PacerCore

extension SQLiteStore {
    public func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun] {
        try writeImmediate { db in
            // One prepared statement for every call: the per-row cost is binding nine values and one step.
            let insertCall = try db.makeStatement(sql: """
                INSERT INTO calls (run_id, seq, account, method, path, params, body, weight, idempotent)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var enqueued: [EnqueuedRun] = []
            for item in runs {
                let run = item.run
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE name = ?",
                                        arguments: [run.account]) != nil else {
                    throw StoreError(.unknownAccount, "no account named '\(run.account)' (see `pacer account add`)")
                }
                let overrides = run.overrides.isEmpty ? nil : JSONValue.object(
                    run.overrides.sorted { $0.key < $1.key }.map { .init($0.key, .string($0.value)) }).compactText
                try db.execute(sql: """
                    INSERT INTO runs (job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms,
                                      overrides, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [run.job, run.account, run.jobFile, run.retry.attempts,
                                     run.retry.minimumBackoffMilliseconds, run.retry.maximumBackoffMilliseconds,
                                     overrides, run.createdAtMilliseconds])
                let runID = db.lastInsertedRowID
                var count = 0
                try item.produceCalls { call in
                    insertCall.setUncheckedArguments([runID, call.index, run.account, call.method.rawValue, call.path,
                                                      call.params, call.body, call.weight, call.idempotent])
                    try insertCall.execute()
                    count += 1
                }
                try db.execute(sql: "UPDATE runs SET call_count = ? WHERE id = ?", arguments: [count, runID])
                enqueued.append(EnqueuedRun(run: runID, job: run.job, account: run.account, calls: count))
            }
            return enqueued
        }
    }
}
