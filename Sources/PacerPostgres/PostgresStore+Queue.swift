import Foundation
import PacerCore
import PacerStorage
import PostgresNIO

/// Enqueueing runs and their calls.
extension PostgresStore {
    /// Rows per multi-row INSERT: 1,000 rows of 11 values stays far below PostgreSQL's 65,535 parameters.
    static let rowsPerInsert = 1_000
    /// The advisory lock that serialises enqueues, so "is there already a run for this tick (or within
    /// --unique-for)?" and the insert that follows are one decision across machines, as SQLite's write lock makes
    /// them.
    static let enqueueLockKey: Int64 = 0x7061_6365_7201

    public func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun] {
        let token = UUID().uuidString
        do {
            return try enqueue(runs, token: token)
        } catch let error as StoreError where error.kind == .database {
            // The reply to COMMIT may be what was lost: whether the runs landed is asked on a new connection.
            return try landed(token, after: error)
        }
    }

    /// The runs an enqueue tagged with `token` made, when its outcome was not known: they landed (it succeeded),
    /// or none did (`error` stands, and nothing was queued), or the database cannot say (it is still silent).
    func landed(_ token: String, after error: StoreError) throws(StoreError) -> [EnqueuedRun] {
        var lastLookup: StoreError?
        for attempt in 0..<3 {
            if attempt > 0 { usleep(1_000_000) }
            do {
                let found = try read { tx in
                    try tx.rows("""
                        SELECT id, job, account, call_count FROM runs WHERE enqueue_token = \(token) ORDER BY id
                        """).map {
                        EnqueuedRun(run: try $0.get("id"), job: try $0.get("job"), account: try $0.get("account"),
                                    calls: try $0.get("call_count", as: Int.self))
                    }
                }
                guard !found.isEmpty else { throw StoreError(.database, "\(error.message); nothing was queued") }
                return found
            } catch let lookup as StoreError where lookup.message.hasSuffix("nothing was queued") {
                throw lookup
            } catch {
                lastLookup = plain(error)
            }
        }
        throw StoreError(.database, "\(error.message); the database did not confirm whether the enqueue landed "
                         + "(\(lastLookup?.message ?? "no answer")): check `pacer status` before enqueueing again "
                         + "(its runs carry the token \(token))")
    }

    private func enqueue(_ runs: [RunToEnqueue], token: String) throws -> [EnqueuedRun] {
        try transaction { tx in
            // A large enqueue holds the enqueue lock for seconds: others wait their turn instead of failing.
            try tx.execute("SET LOCAL lock_timeout = 0")
            try tx.execute("SET LOCAL statement_timeout = 0")
            // Waited for in short tries, not one statement: each reply has its deadline (a silent network), and a
            // wait of minutes behind a huge enqueue is not silence.
            while try tx.value("SELECT pg_try_advisory_xact_lock(\(Self.enqueueLockKey))", as: Bool.self) != true {
                usleep(200_000)
            }
            var rows: [NewCall] = [], rowRuns: [(run: Int64, account: String)] = []
            func flush() throws {
                guard !rows.isEmpty else { return }
                var sql = "INSERT INTO calls (run_id, seq, account, method, path, params, body, weight, idempotent, "
                    + "call_key, keyed, pools, priority) VALUES "
                var binds = PostgresBindings(capacity: rows.count * 13)
                for (i, call) in rows.enumerated() {
                    let base = i * 13
                    sql += (i == 0 ? "" : ", ") + "(" + (1...13).map { "$\(base + $0)" }.joined(separator: ", ") + ")"
                    binds.append(rowRuns[i].run)
                    binds.append(Int64(call.index))
                    binds.append(rowRuns[i].account)
                    binds.append(call.method.rawValue)
                    binds.append(call.path)
                    binds.append(call.params)
                    binds.append(call.body)
                    binds.append(Int64(call.weight))
                    binds.append(call.idempotent)
                    binds.append(call.key)
                    binds.append(call.keyed)
                    binds.append(call.pools.text)
                    binds.append(Int32(call.priority))
                }
                try tx.execute(PostgresQuery(unsafeSQL: sql, binds: binds))
                rows.removeAll(keepingCapacity: true)
                rowRuns.removeAll(keepingCapacity: true)
            }
            func open(_ run: NewRun, account: String) throws -> (id: Int64, skipped: Bool) {
                guard try tx.row("SELECT 1 FROM accounts WHERE name = \(account)") != nil else {
                    throw StoreError(.unknownAccount, "no account named '\(account)' (see `pacer account add`)")
                }
                var run = run
                run.account = account
                if let existing = try Self.existingRun(tx, for: run) { return (existing, true) }
                let overrides = run.overrides.isEmpty ? nil : JSONValue.object(
                    run.overrides.sorted { $0.key < $1.key }.map { .init($0.key, .string($0.value)) }).compactText
                let id = try tx.value("""
                    INSERT INTO runs (job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms,
                                      overrides, created_at, schedule_tick, enqueue_token)
                    VALUES (\(run.job), \(account), \(run.jobFile), \(Int64(run.retry.attempts)),
                            \(run.retry.minimumBackoffMilliseconds), \(run.retry.maximumBackoffMilliseconds),
                            \(overrides), \(run.createdAtMilliseconds), \(run.scheduleTick), \(token))
                    RETURNING id
                    """, as: Int64.self)
                return (id ?? 0, false)
            }
            let enqueued = try EnqueueRouting(
                open: open(_:account:),
                add: { call, run, account in
                    rows.append(call)
                    rowRuns.append((run, account))
                    if rows.count == Self.rowsPerInsert { try flush() }
                },
                flush: flush,
                setCallCount: { run, calls in
                    try tx.execute("UPDATE runs SET call_count = \(Int64(calls)) WHERE id = \(run)")
                }
            ).enqueue(runs)
            // Runners on every machine LISTEN here: new work wakes them without polling.
            try tx.announceWork()
            return enqueued
        }
    }

    /// The run that makes `run` unnecessary (the same tick, or `--unique-for`), read under the enqueue lock.
    static func existingRun(_ tx: PostgresTransaction, for run: NewRun) throws -> Int64? {
        if let tick = run.scheduleTick, let id = try tx.value("""
            SELECT id FROM runs WHERE job = \(run.job) AND account = \(run.account) AND schedule_tick = \(tick)
            """, as: Int64.self) {
            return id
        }
        if let since = run.uniqueSince {
            return try tx.value("""
                SELECT id FROM runs WHERE job = \(run.job) AND account = \(run.account) AND created_at > \(since)
                ORDER BY created_at DESC LIMIT 1
                """, as: Int64.self)
        }
        return nil
    }
}
