import GRDB
import PacerCore

extension SQLiteStore {
    public func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun] {
        try writeImmediate { db in
            // Calls go in as multi-row INSERTs of `rowsPerInsert` rows through one prepared statement: SQLite's cost
            // is mostly per statement step, so 64 rows a step is several times faster than one.
            let insertBatch = try db.makeStatement(sql: Self.insertCallsSQL(rows: Self.rowsPerInsert))
            var pending: [DatabaseValueConvertible?] = []
            pending.reserveCapacity(Self.rowsPerInsert * 9)
            func flush() throws {
                guard !pending.isEmpty else { return }
                let rows = pending.count / 9
                let statement = rows == Self.rowsPerInsert ? insertBatch : try db.makeStatement(sql: Self.insertCallsSQL(rows: rows))
                statement.setUncheckedArguments(StatementArguments(pending))
                try statement.execute()
                pending.removeAll(keepingCapacity: true)
            }
            var enqueued: [EnqueuedRun] = []
            for item in runs {
                let run = item.run
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE name = ?",
                                        arguments: [run.account]) != nil else {
                    throw StoreError(.unknownAccount, "no account named '\(run.account)' (see `pacer account add`)")
                }
                if let existing = try Self.existingRun(db, for: run) {
                    enqueued.append(EnqueuedRun(run: existing, job: run.job, account: run.account, calls: 0, skipped: true))
                    continue
                }
                let overrides = run.overrides.isEmpty ? nil : JSONValue.object(
                    run.overrides.sorted { $0.key < $1.key }.map { .init($0.key, .string($0.value)) }).compactText
                try db.execute(sql: """
                    INSERT INTO runs (job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms,
                                      overrides, created_at, schedule_tick)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [run.job, run.account, run.jobFile, run.retry.attempts,
                                     run.retry.minimumBackoffMilliseconds, run.retry.maximumBackoffMilliseconds,
                                     overrides, run.createdAtMilliseconds, run.scheduleTick])
                let runID = db.lastInsertedRowID
                var count = 0
                try item.produceCalls { call in
                    pending += [runID, call.index, run.account, call.method.rawValue, call.path, call.params, call.body,
                                call.weight, call.idempotent] as [DatabaseValueConvertible?]
                    if pending.count == Self.rowsPerInsert * 9 { try flush() }
                    count += 1
                }
                try flush()
                try db.execute(sql: "UPDATE runs SET call_count = ? WHERE id = ?", arguments: [count, runID])
                enqueued.append(EnqueuedRun(run: runID, job: run.job, account: run.account, calls: count))
            }
            return enqueued
        }
    }

    /// The run that makes `run` unnecessary: the same job's run for the same tick, or (for `--unique-for`) one
    /// created within the period. Checked inside the enqueue's write transaction, so two overlapping enqueues
    /// cannot both decide there is none.
    static func existingRun(_ db: Database, for run: NewRun) throws -> Int64? {
        if let tick = run.scheduleTick,
           let id = try Int64.fetchOne(db, sql: "SELECT id FROM runs WHERE job = ? AND schedule_tick = ?",
                                       arguments: [run.job, tick]) {
            return id
        }
        if let since = run.uniqueSince {
            return try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE job = ? AND created_at > ? ORDER BY created_at DESC LIMIT 1
                """, arguments: [run.job, since])
        }
        return nil
    }

    static let rowsPerInsert = 64

    static func insertCallsSQL(rows: Int) -> String {
        "INSERT INTO calls (run_id, seq, account, method, path, params, body, weight, idempotent) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }
}
