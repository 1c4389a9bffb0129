import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    /// One `BEGIN IMMEDIATE` transaction: SQLite's write lock serialises it with every other writer.
    public func callTransaction<T>(_ body: (any CallRows) throws -> T) throws -> T {
        try writeImmediate { db in try body(SQLiteCallRows(db: db, store: self)) }
    }
}

/// The rows of calls, runners and their spends in SQLite: statements prepared once per transaction and run per
/// row, or over chunks of ids.
struct SQLiteCallRows: CallRows {
    let db: Database
    let store: SQLiteStore

    func now(_ caller: () -> Int64) throws -> Int64 { store.now(caller) }

    /// The columns `callRow(_:)` reads, by position.
    static let columns = """
        c.id, c.state, c.attempts, c.next_attempt_at, c.last_class, c.lookup_pending, c.maybe_done_by, c.lease_owner,
        c.lease_expires_at, c.dispatched_at, c.idempotent, c.keyed, r.retry_attempts, r.cancelled_at IS NOT NULL
        """

    static func callRow(_ row: Row) -> CallRow {
        CallRow(id: row[0], state: CallState(rawValue: row[1]) ?? .queued, attempts: row[2], nextAttemptAt: row[3],
                lastClass: row[4], lookup: LookupReason(rawValue: row[5]), maybeDoneBy: row[6], leaseOwner: row[7],
                leaseExpiresAt: row[8], dispatchedAt: row[9], idempotent: row[10], keyed: row[11],
                retryAttempts: row[12], runCancelled: row[13])
    }

    func lockCalls(_ ids: [Int64]) throws -> [CallRow] {
        var found: [CallRow] = []
        for chunk in ids.chunked(500) {
            found += try Row.fetchAll(db, sql: """
                SELECT \(Self.columns) FROM calls c JOIN runs r ON r.id = c.run_id
                WHERE c.id IN (\(placeholders(chunk.count))) ORDER BY c.id
                """, arguments: StatementArguments(Array(chunk))).map(Self.callRow)
        }
        return found
    }

    func resultErrors(_ ids: [Int64]) throws -> [Int64: String] {
        var errors: [Int64: String] = [:]
        for chunk in ids.chunked(500) {
            for row in try Row.fetchAll(db, sql: """
                SELECT call_id, error FROM results
                WHERE error IS NOT NULL AND call_id IN (\(placeholders(chunk.count)))
                """, arguments: StatementArguments(Array(chunk))) {
                errors[row[0]] = row[1]
            }
        }
        return errors
    }

    func orphanedCalls() throws -> [CallRow] {
        try Row.fetchAll(db, sql: """
            SELECT \(Self.columns) FROM calls c JOIN runs r ON r.id = c.run_id
            WHERE c.state = 'in_flight' AND (c.lease_owner IS NULL OR c.lease_owner NOT IN (SELECT id FROM runners))
            ORDER BY c.id
            """).map(Self.callRow)
    }

    func writeCalls(_ rows: [CallRow]) throws {
        guard !rows.isEmpty else { return }
        let update = try db.cachedStatement(sql: """
            UPDATE calls SET state = ?, attempts = ?, next_attempt_at = ?, last_class = ?, lookup_pending = ?,
                maybe_done_by = ?, lease_owner = ?, lease_expires_at = ?, dispatched_at = ?
            WHERE id = ?
            """)
        for r in rows {
            try update.execute(arguments: [r.state.rawValue, r.attempts, r.nextAttemptAt, r.lastClass,
                                           r.lookup?.rawValue ?? 0, r.maybeDoneBy, r.leaseOwner, r.leaseExpiresAt,
                                           r.dispatchedAt, r.id])
        }
    }

    func insertAttempts(_ attempts: [AttemptRow]) throws {
        guard !attempts.isEmpty else { return }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO attempts (call_id, attempt, runner, started_at, latency_ms, http_status, code, classification,
                                  message)
            SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
            WHERE NOT EXISTS (SELECT 1 FROM attempts WHERE call_id = ?1 AND runner = ?3 AND started_at IS ?4
                                AND classification = ?8)
            """)
        for a in attempts {
            try insert.execute(arguments: [a.call, a.attempt, a.runner, a.startedAt, a.latencyMilliseconds,
                                           a.httpStatus, a.code, a.classification, a.message])
        }
    }

    func writeResults(_ results: [ResultRow]) throws {
        guard !results.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO results (call_id, http_status, code, data, error, finished_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        for r in results {
            try upsert.execute(arguments: [r.call, r.httpStatus, r.code, r.data, r.error, r.finishedAt])
        }
    }

    func spends(of calls: [(call: Int64, owner: String)]) throws -> [CallSpend] {
        let select = try db.cachedStatement(sql: """
            SELECT id, call_id, owner, at, open, account FROM limiter_spends WHERE call_id = ? AND owner = ?
            """)
        var seen = Set<String>(), found: [CallSpend] = []
        for (call, owner) in calls where seen.insert("\(call) \(owner)").inserted {
            found += try Row.fetchAll(select, arguments: [call, owner]).map {
                CallSpend(id: $0[0], call: $0[1], owner: $0[2], at: $0[3], open: $0[4], pool: $0[5])
            }
        }
        return found
    }

    func settleSpends(_ settlements: [SpendSettlement]) throws {
        guard !settlements.isEmpty else { return }
        let settle = try db.cachedStatement(sql: "UPDATE limiter_spends SET open = 0, at = MAX(at, ?), accepted = ? WHERE id = ?")
        for s in settlements { try settle.execute(arguments: [s.at, s.accepted, s.id]) }
    }

    func settleUnownedSpends(at: Int64) throws {
        try db.execute(sql: """
            UPDATE limiter_spends SET open = 0, at = MAX(at, ?)
            WHERE open = 1 AND (owner IS NULL OR owner NOT IN (SELECT id FROM runners))
            """, arguments: [at])
    }

    func takeRecoveryTurn() throws -> Bool { true }

    func runners() throws -> [RunnerRecord] {
        try Row.fetchAll(db, sql: "SELECT id, host, pid, heartbeat_at FROM runners ORDER BY id").map {
            RunnerRecord(identity: RunnerIdentity(id: $0["id"], host: $0["host"], pid: Int32($0["pid"] as Int)),
                         heartbeatAt: $0["heartbeat_at"])
        }
    }

    func deleteRunners(_ records: [RunnerRecord]) throws -> [String] {
        var deleted: [String] = []
        for record in records {
            try db.execute(sql: "DELETE FROM runners WHERE id = ? AND heartbeat_at = ?",
                           arguments: [record.identity.id, record.heartbeatAt])
            if db.changesCount == 1 { deleted.append(record.identity.id) }
        }
        return deleted
    }

    func announceWork() throws {}

    func lockRun(_ run: Int64) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run]) != nil
    }

    func setRunCancelled(_ run: Int64, at: Int64?) throws {
        try db.execute(sql: "UPDATE runs SET cancelled_at = ? WHERE id = ?", arguments: [at, run])
    }

    func countCalls(run: Int64, in states: Set<CallState>) throws -> Int {
        let names = states.map(\.rawValue).sorted()
        return try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM calls WHERE run_id = ? AND state IN (\(placeholders(names.count)))
            """, arguments: StatementArguments([run] + names as [any DatabaseValueConvertible])) ?? 0
    }

    func runCalls(run: Int64, in states: Set<CallState>, after: Int64, limit: Int) throws -> [CallRow] {
        let names = states.map(\.rawValue).sorted()
        return try Row.fetchAll(db, sql: """
            SELECT \(Self.columns) FROM calls c JOIN runs r ON r.id = c.run_id
            WHERE c.run_id = ? AND c.state IN (\(placeholders(names.count))) AND c.id > ?
            ORDER BY c.id LIMIT ?
            """, arguments: StatementArguments([run] + names + [after, limit] as [any DatabaseValueConvertible]))
            .map(Self.callRow)
    }

    func deleteResults(_ calls: [Int64]) throws {
        for chunk in calls.chunked(500) {
            try db.execute(sql: "DELETE FROM results WHERE call_id IN (\(placeholders(chunk.count)))",
                           arguments: StatementArguments(Array(chunk)))
        }
    }
}
