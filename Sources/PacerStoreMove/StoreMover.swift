import Foundation
import GRDB
import PacerCore
import PacerStorage
import PostgresNIO
import PacerPostgres
import PacerSQLite
import PacerLimits

/// `pacer migrate-store`: moves a user's setup from an SQLite database to PostgreSQL, for a user who outgrows
/// one machine.
///
/// Copied: every account (with its pause and pacing state), every schedule, every unfinished run with all its
/// calls (finished ones keep their results; keys and lookup state go along, so exactly-once survives the move),
/// and the limiter's recent spends (so the first window after the move still counts what was just sent). Not
/// copied: finished runs and the per-try history (`attempts`), which stay in the SQLite file for reference.
///
/// Nothing is sent twice because of the move: runners must be stopped first (a live registration or a call in
/// flight refuses the move), the dead ones' calls are recovered first, and the SQLite database's accounts are
/// paused ("moved to ...") in the same SQLite transaction that reads what is copied, so a `pacer run` left on the
/// old file sends nothing. The copy is one PostgreSQL transaction: it all lands or nothing does (and then nothing
/// is paused either). Instants move onto the server's clock.
public struct StoreMover {
    public struct Summary: Sendable, Equatable {
        public var accounts = 0
        public var schedules = 0
        public var runs = 0
        public var calls = 0
        public var unfinishedCalls = 0
        public var spends = 0
    }

    let source: SQLiteStore
    let target: PostgresStore

    public init(from sourcePath: String, to targetURL: String) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: sourcePath) else {
            throw StoreError(.database, "no SQLite database at '\(sourcePath)'")
        }
        source = try SQLiteStore(path: sourcePath)
        target = try PostgresStore(url: targetURL)
    }

    /// Now on the source's clock: what `move(now:isGone:)` is given, and what a runner's heartbeat is compared with.
    public var sourceNow: Int64 { source.currentTime }

    /// Moves everything; `isGone` tells whether a registered runner is dead (its process gone, or silent too long).
    ///
    /// The whole move holds the SQLite database's write lock: the old accounts are paused, no runner may be
    /// registered and no call in flight (both checked under that lock, so none can start in between), everything
    /// is read from that one state and copied in one PostgreSQL transaction, and only then is the pause committed.
    /// If the PostgreSQL commit fails, the SQLite transaction rolls back (nothing paused); if its reply is lost,
    /// PostgreSQL is asked whether the copy landed before deciding.
    public func move(now: Int64, isGone: (RunnerRecord) -> Bool) throws -> Summary {
        // Dead runners' calls go back to the queue (or end uncertain) first.
        _ = try source.recoverAbandoned(now: { now }) { record, _ in isGone(record) }
        let accounts = try source.accounts()
        let clashing = try Set(target.accounts().map(\.name)).intersection(accounts.map(\.name)).sorted()
        guard clashing.isEmpty else {
            throw StoreError(.accountExists, "the PostgreSQL database already has account(s) \(clashing.joined(separator: ", ")); "
                             + "nothing was moved")
        }
        let reason = "moved to \(target.location.display) by pacer migrate-store"
        return try source.pool.writeWithoutTransaction { db in
            var summary = Summary()
            try db.inTransaction(.immediate) {
                let live = try String.fetchAll(db, sql: "SELECT id FROM runners")
                guard live.isEmpty else {
                    throw StoreError(.database, "runners are using '\(source.path)' (\(live.joined(separator: ", "))): "
                                     + "stop every `pacer run` on it before moving it")
                }
                let inFlight = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls WHERE state = 'in_flight'") ?? 0
                guard inFlight == 0 else {
                    throw StoreError(.database, "\(inFlight) call(s) in '\(source.path)' are in flight: stop every `pacer run` "
                                     + "on it and let recovery settle them before moving it")
                }
                try db.execute(sql: "UPDATE accounts SET paused_reason = ?, paused_at = ? WHERE paused_reason IS NULL",
                               arguments: [reason, now])
                do {
                    summary = try copy(db, accounts: accounts, now: now)
                } catch {
                    // A lost reply to the COMMIT: if the accounts are there, the copy landed.
                    let landed = (try? target.accounts().map(\.name)).map { Set($0).isSuperset(of: accounts.map(\.name)) } ?? false
                    guard landed && !accounts.isEmpty else { throw error }
                }
                return .commit
            }
            return summary
        }
    }

    private func copy(_ db: Database, accounts: [Account], now: Int64) throws -> Summary {
        var summary = Summary()
        // As long as it takes (a large setup), like a migration: no reply deadline, so its COMMIT is never
        // judged lost while it is still being written.
        try target.transaction(deadline: false) { tx in
            // Instants in the old database are on this host's clock; PostgreSQL's are the server's.
            let shift = try tx.now(caller: now).shift
            // Shared pools first: accounts name them.
            for shared in try source.sharedPools() {
                try tx.execute("""
                    INSERT INTO shared_pools (name, limits, created_at) VALUES (\(shared.name), \(shared.limitsText), \(now + shift))
                    ON CONFLICT (name) DO NOTHING
                    """)
            }
            for account in accounts {
                let c = account.credentials
                try tx.execute("""
                    INSERT INTO accounts (name, provider, base_url, limit_count, limit_window_ms, api_key, api_key_env,
                        secret_env, secret_file, passphrase_env, partner, broker_name, broker_key_env, paused_reason,
                        paused_at, created_at, limits, shared)
                    VALUES (\(account.name), \(account.provider.rawValue), \(account.baseURL),
                            \(Int64(account.limit.count)), \(account.limit.windowMilliseconds), \(c.key), \(c.keyEnv),
                            \(c.secretEnv), \(c.secretFile), \(c.passphraseEnv), \(c.partner), \(c.brokerName),
                            \(c.brokerKeyEnv), \(account.pausedReason), \(account.pausedReason == nil ? nil : now + shift),
                            \(now + shift), \(AccountColumns.limits(account)), \(AccountColumns.shared(account)))
                    """)
                summary.accounts += 1
            }
            try copyPacing(db, tx, shift: shift)
            for schedule in try source.schedules() {
                try tx.execute("""
                    INSERT INTO schedules (job, file, source, registered_at, last_tick, missed_ticks, last_error)
                    VALUES (\(schedule.job), \(schedule.file), \(schedule.source), \(schedule.registeredAt),
                            \(schedule.lastTick), \(Int64(schedule.missedTicks)), \(schedule.lastError))
                    ON CONFLICT (job) DO NOTHING
                    """)
                summary.schedules += 1
            }
            try copyRuns(db, tx, shift: shift, into: &summary)
            let longest = accounts.flatMap { $0.limits.pools.flatMap(\.windows) }.map(\.windowMilliseconds).max() ?? 0
            summary.spends = try copySpends(db, tx, now: now, shift: shift, longestWindow: longest)
            try tx.announceWork()
        }
        return summary
    }

    private func copyPacing(_ db: Database, _ tx: PostgresTransaction, shift: Int64) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM account_pacing")
        for row in rows {
            let ceiling: Int64? = row["ceiling"], candidate: Int64? = row["candidate_fill"]
            let older: Int64? = row["older_candidate_fill"], reported: Int64? = row["reported_limit"]
            try tx.execute("""
                INSERT INTO account_pacing (account, ceiling, ceiling_at, cooldown_until, clock_offset_ms, strikes,
                    candidate_fill, candidate_at, older_candidate_fill, older_candidate_at, reported_limit)
                VALUES (\(row["account"] as String), \(ceiling), \(Self.moved(row["ceiling_at"], shift)),
                        \(Self.moved(row["cooldown_until"], shift)),
                        \((row["clock_offset_ms"] as Int64) - shift), -- the provider's clock minus the server's now
                        \(row["strikes"] as Int64), \(candidate), \(Self.moved(row["candidate_at"], shift)), \(older),
                        \(Self.moved(row["older_candidate_at"], shift)), \(reported))
                """)
        }
    }

    /// Runs with a call not yet final, each with all its calls; calls get new ids (reserved from the target's
    /// sequence), and the results of finished ones follow them.
    /// An instant of the old database on the server's clock (0, "never", stays 0).
    static func moved(_ instant: Int64, _ shift: Int64) -> Int64 { instant == 0 ? 0 : instant + shift }

    private func copyRuns(_ db: Database, _ tx: PostgresTransaction, shift: Int64, into summary: inout Summary) throws {
        let runs = try Row.fetchAll(db, sql: """
            SELECT * FROM runs r WHERE EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id
                                               AND c.state IN ('queued', 'retrying'))
            ORDER BY r.id
            """)
        for run in runs {
            let newRun = try tx.value("""
                INSERT INTO runs (job, account, job_file, call_count, retry_attempts, backoff_min_ms, backoff_max_ms,
                                  created_at, overrides, schedule_tick, cancelled_at)
                VALUES (\(run["job"] as String), \(run["account"] as String), \(run["job_file"] as String),
                        \(run["call_count"] as Int64), \(run["retry_attempts"] as Int64), \(run["backoff_min_ms"] as Int64),
                        \(run["backoff_max_ms"] as Int64), \(run["created_at"] as Int64), \(run["overrides"] as String?),
                        \(run["schedule_tick"] as Int64?), \((run["cancelled_at"] as Int64?).map { $0 + shift }))
                RETURNING id
                """, as: Int64.self) ?? 0
            summary.runs += 1
            var after: Int64 = 0
            while true {
                // A page of calls with their results, in id order.
                let page = try Row.fetchAll(db, sql: """
                    SELECT c.*, r.http_status AS r_status, r.code AS r_code, r.data AS r_data, r.error AS r_error,
                           r.finished_at AS r_finished
                    FROM calls c LEFT JOIN results r ON r.call_id = c.id
                    WHERE c.run_id = ? AND c.id > ? ORDER BY c.id LIMIT 1000
                    """, arguments: [run["id"] as Int64, after])
                guard let last = page.last else { break }
                after = last["id"]
                let ids = try tx.rows("SELECT nextval(pg_get_serial_sequence('calls', 'id')) FROM generate_series(1, \(Int64(page.count)))")
                    .map { try $0[0].decode(Int64.self) }
                for (call, id) in zip(page, ids) {
                    let state: String = call["state"]
                    // Nothing is in flight (checked under the lock).
                    try tx.execute("""
                        INSERT INTO calls (id, run_id, seq, account, method, path, params, body, weight, idempotent, state,
                                           attempts, next_attempt_at, last_class, call_key, keyed, lookup_pending,
                                           maybe_done_by, pools, priority)
                        VALUES (\(id), \(newRun), \(call["seq"] as Int64), \(call["account"] as String),
                                \(call["method"] as String), \(call["path"] as String), \(call["params"] as String),
                                \(call["body"] as String?), \(call["weight"] as Int64), \(call["idempotent"] as Bool),
                                \(state), \(call["attempts"] as Int64),
                                \(Self.moved(call["next_attempt_at"], shift)), \(call["last_class"] as String?),
                                \(call["call_key"] as String?), \(call["keyed"] as Bool), \(call["lookup_pending"] as Int64),
                                \(call["maybe_done_by"] as Int64?), \(call["pools"] as String?),
                                \(Int32(call["priority"] as Int64)))
                        """)
                    if let finished = call["r_finished"] as Int64? {
                        try tx.execute("""
                            INSERT INTO results (call_id, http_status, code, data, error, finished_at)
                            VALUES (\(id), \(call["r_status"] as Int64?), \(call["r_code"] as String?),
                                    \(call["r_data"] as String?), \(call["r_error"] as String?), \(finished + shift))
                            """)
                    }
                    summary.calls += 1
                    if ["queued", "retrying"].contains(state) { summary.unfinishedCalls += 1 }
                }
            }
        }
    }

    /// The spends still holding tokens (within the longest window kept, or settled into the future by recovery),
    /// so the first window on PostgreSQL counts what the old database's runners just sent.
    private func copySpends(_ db: Database, _ tx: PostgresTransaction, now: Int64, shift: Int64,
                            longestWindow: Int64) throws -> Int {
        let keep = WindowBudget.keepSettledMilliseconds(windowMilliseconds: longestWindow)
        let rows = try Row.fetchAll(db, sql: "SELECT account, at, weight FROM limiter_spends WHERE at > ? OR open = 1",
                                    arguments: [now - keep])
        for row in rows {
            try tx.execute("""
                INSERT INTO limiter_spends (account, call_id, at, weight, open, owner)
                VALUES (\(row["account"] as String), NULL, \((row["at"] as Int64) + shift), \(row["weight"] as Int64),
                        FALSE, NULL)
                """)
        }
        return rows.count
    }
}
