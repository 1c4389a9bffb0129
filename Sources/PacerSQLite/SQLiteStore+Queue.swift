import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    public func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun] {
        try writeImmediate { db in
            // Calls go in as multi-row INSERTs of `rowsPerInsert` rows through one prepared statement: SQLite's cost
            // is mostly per statement step, so 64 rows a step is several times faster than one.
            let insertBatch = try db.makeStatement(sql: Self.insertCallsSQL(rows: Self.rowsPerInsert))
            var pending: [DatabaseValueConvertible?] = []
            pending.reserveCapacity(Self.rowsPerInsert * Self.columnsPerCall)
            func flush() throws {
                guard !pending.isEmpty else { return }
                let rows = pending.count / Self.columnsPerCall
                let statement = rows == Self.rowsPerInsert ? insertBatch : try db.makeStatement(sql: Self.insertCallsSQL(rows: rows))
                statement.setUncheckedArguments(StatementArguments(pending))
                try statement.execute()
                pending.removeAll(keepingCapacity: true)
            }
            /// Inserts the run row for `run` on `account`, or finds the run that makes it unnecessary.
            func open(_ run: NewRun, account: String) throws -> (id: Int64, skipped: Bool) {
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE name = ?", arguments: [account]) != nil else {
                    throw StoreError(.unknownAccount, "no account named '\(account)' (see `pacer account add`)")
                }
                var run = run
                run.account = account
                if let existing = try Self.existingRun(db, for: run) { return (existing, true) }
                let overrides = run.overrides.isEmpty ? nil : JSONValue.object(
                    run.overrides.sorted { $0.key < $1.key }.map { .init($0.key, .string($0.value)) }).compactText
                try db.execute(sql: """
                    INSERT INTO runs (job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms,
                                      overrides, created_at, schedule_tick)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [run.job, account, run.jobFile, run.retry.attempts,
                                     run.retry.minimumBackoffMilliseconds, run.retry.maximumBackoffMilliseconds,
                                     overrides, run.createdAtMilliseconds, run.scheduleTick])
                return (db.lastInsertedRowID, false)
            }
            return try EnqueueRouting(
                open: open(_:account:),
                add: { call, run, account in
                    pending += [run, call.index, account, call.method.rawValue, call.path, call.params, call.body,
                                call.weight, call.idempotent, call.key, call.keyed, call.pools.text,
                                call.priority] as [DatabaseValueConvertible?]
                    if pending.count == Self.rowsPerInsert * Self.columnsPerCall { try flush() }
                },
                flush: flush,
                setCallCount: { run, calls in
                    try db.execute(sql: "UPDATE runs SET call_count = ? WHERE id = ?", arguments: [calls, run])
                }
            ).enqueue(runs)
        }
    }

    /// The run that makes `run` unnecessary: the same job's run on the same account for the same tick, or (for
    /// `--unique-for`) one created within the period. Checked inside the enqueue's write transaction, so two
    /// overlapping enqueues cannot both decide there is none.
    static func existingRun(_ db: Database, for run: NewRun) throws -> Int64? {
        if let tick = run.scheduleTick,
           let id = try Int64.fetchOne(db, sql: "SELECT id FROM runs WHERE job = ? AND account = ? AND schedule_tick = ?",
                                       arguments: [run.job, run.account, tick]) {
            return id
        }
        if let since = run.uniqueSince {
            return try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE job = ? AND account = ? AND created_at > ? ORDER BY created_at DESC LIMIT 1
                """, arguments: [run.job, run.account, since])
        }
        return nil
    }

    static let rowsPerInsert = 64
    static let columnsPerCall = 13

    static func insertCallsSQL(rows: Int) -> String {
        "INSERT INTO calls (run_id, seq, account, method, path, params, body, weight, idempotent, call_key, keyed, "
            + "pools, priority) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }
}
