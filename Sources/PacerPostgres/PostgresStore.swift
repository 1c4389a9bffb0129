import Foundation
import Logging
import NIOCore
import NIOPosix
import PacerCore
import PacerStorage
import PostgresNIO
import Synchronization

/// `PacerStore` on PostgreSQL: one Pacer across several machines, sharing one limit per account.
///
/// The protocol is synchronous (each method one transaction), as for SQLite: callers already run store calls off
/// Swift's cooperative pool (`StoreExecutor`). Each method takes a connection from a small pool, runs its
/// statements on postgres-nio's event loops and waits for them there, so a slow server parks the calling thread
/// and nothing else.
///
/// **One clock.** Runners on different machines disagree about the time by seconds. Every instant the limiter
/// and recovery compare (a spend, a settlement, a heartbeat, a cool-down, a due time) is therefore the database
/// server's `clock_timestamp()`, read inside the transaction; the instants a runner computes from its own clock
/// (a retry's due time, a lease) are moved onto the server's clock by the difference between the runner's "now"
/// and the server's at the same moment. `ClockSource.caller` uses the caller's clock instead, so the shared
/// conformance suite can drive the store with a manual clock; Pacer itself always uses `.database`.
public final class PostgresStore: PacerStore {
    public enum ClockSource: Sendable {
        /// The database server's `clock_timestamp()`: what production uses.
        case database
        /// The instants the caller passes (tests with a manual clock).
        case caller
    }

    public let location: PostgresLocation
    let clockSource: ClockSource
    let pool: PostgresConnectionPool
    /// Statements sent to the server (each one round trip), for tests and benchmarks that count them.
    let roundTrips = Atomic<Int>(0)
    /// Calls a failed claim may have leased to a runner and that could not be given back yet, by runner: given
    /// back at that runner's next claim or heartbeat.
    let releasesOwed = Mutex<[String: Set<Int64>]>([:])
    /// Failures tests inject: a COMMIT whose reply is lost (after it committed), then transactions refused.
    package let faults = PostgresFaults()

    /// Connects (checking the server answers) and brings the schema up to date.
    public init(location: PostgresLocation, clock: ClockSource = .database, maxConnections: Int = 8) throws(StoreError) {
        self.location = location
        self.clockSource = clock
        pool = PostgresConnectionPool(location: location, maxConnections: maxConnections)
        try PostgresMigrator(migrations: PostgresMigrations.all).migrate(self)
    }

    /// Opens `url` (`postgres://USER@HOST:PORT/DB?sslmode=...`); the password comes from `PGPASSWORD` or `~/.pgpass`.
    public convenience init(url: String, clock: ClockSource = .database) throws(StoreError) {
        try self.init(location: PostgresLocation(url: url), clock: clock)
    }

    deinit { pool.closeAll() }

    public var keepsItsOwnClock: Bool { clockSource == .database }
    public var isAcrossANetwork: Bool { true }

    /// Runs one read-only statement and returns its rows, for tools that read the database directly (benchmarks,
    /// diagnostics), as `SQLiteStore.pool` serves them on SQLite.
    public func rows(_ sql: String) throws -> [PostgresRow] {
        try read { tx in try tx.query(PostgresQuery(unsafeSQL: sql)).rows }
    }

    /// How long a statement's reply is waited for before its connection is closed: the server's own
    /// `statement_timeout` (60 s) and a margin. Without it a reply lost in a network partition (no reset, no close)
    /// would block its caller forever; with it the call fails and the next one connects again.
    static let replyDeadlineSeconds: Int64 = 70

    /// Runs `body` in one transaction on one connection. A deadlock or serialization failure (another machine's
    /// transaction crossed ours) rolls back and runs the whole body again, a few times; database errors roll back
    /// and are thrown as `StoreError`s; an error of the body's own (an enqueue's call producer) is rethrown as is.
    /// `deadline: false` for work that may legitimately run longer than the reply deadline (migrations).
    @discardableResult
    package func transaction<T>(deadline: Bool = true, _ body: (PostgresTransaction) throws -> T) throws -> T {
        var tries = 0
        while true {
            tries += 1
            let connection = try pool.take()
            var healthy = true
            defer { pool.give(connection, healthy: healthy) }
            let tx = PostgresTransaction(connection: connection, store: self,
                                         deadlineSeconds: deadline ? Self.replyDeadlineSeconds : nil)
            do {
                try faults.refuseTransaction()
                try tx.execute("BEGIN")
                if location.transactionPooler { try tx.execute(PostgresQuery(unsafeSQL: PostgresConnectionPool.transactionSettings)) }
                let result = try body(tx)
                try tx.execute("COMMIT")
                try faults.loseCommitReply()
                return result
            } catch {
                healthy = tx.rollBack()
                if let state = Self.sqlState(error), ["40001", "40P01"].contains(state), tries < 5 { continue }
                if error is PSQLError || error is ChannelError { throw plain(error) }
                throw error
            }
        }
    }

    /// Reads, in a transaction of their own.
    func read<T>(_ body: (PostgresTransaction) throws -> T) throws -> T {
        try transaction(body)
    }

    /// For the protocol's methods that throw `StoreError` only.
    func typed<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch { throw plain(error) }
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Any error as a `StoreError` with a one-line message (a server error's own message; never the query's binds).
    func plain(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo {
                let state = info[.sqlState] ?? "?"
                let message = info[.message] ?? "server error"
                if state == "53100" {
                    return StoreError(.diskFull, "disk full on the PostgreSQL server \(location.display): \(message)")
                }
                if state == "25006" {
                    return StoreError(.readOnly, "the PostgreSQL server \(location.display) is read-only: \(message)")
                }
                return StoreError(.database, "PostgreSQL \(location.display): \(message) (SQLSTATE \(state))")
            }
            return StoreError(.database, "PostgreSQL \(location.display): \(psql.code)")
        }
        return StoreError(.database, "PostgreSQL \(location.display): \(error)")
    }

    /// The expression for the server's clock in milliseconds since the epoch.
    static let serverNowSQL = "(extract(epoch from clock_timestamp()) * 1000)::bigint"
}

/// One transaction's connection: statements run one after another, each waited for.
package struct PostgresTransaction {
    let connection: PostgresConnection
    let store: PostgresStore
    /// See `PostgresStore.replyDeadlineSeconds`; nil: no deadline.
    let deadlineSeconds: Int64?
    static let logger = Logger(label: "pacer.postgres")

    @discardableResult
    package func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
        store.roundTrips.add(1, ordering: .relaxed)
        let reply = connection.query(query, logger: Self.logger)
        return try PostgresReply.wait(for: reply, on: connection, deadlineSeconds: deadlineSeconds,
                                      server: store.location.display)
    }

    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    package func execute(_ query: PostgresQuery) throws -> Int {
        try self.query(query).metadata.rows ?? 0
    }

    /// Runs a migration file: its statements one by one (postgres-nio speaks the extended protocol only, which
    /// takes one statement at a time). Statements end with `;` at the end of a line; `--` comments are dropped.
    func executeScript(_ sql: String) throws {
        let lines = sql.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
        var statement = ""
        for line in lines {
            statement += line + "\n"
            if line.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                try execute(PostgresQuery(unsafeSQL: statement))
                statement = ""
            }
        }
        if !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            try execute(PostgresQuery(unsafeSQL: statement))
        }
    }

    package func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try self.query(query).rows.map { $0.makeRandomAccess() }
    }

    func row(_ query: PostgresQuery) throws -> PostgresRandomAccessRow? {
        try rows(query).first
    }

    /// The first column of the first row.
    package func value<T: PostgresDecodable>(_ query: PostgresQuery, as: T.Type = T.self) throws -> T? {
        guard let row = try self.query(query).rows.first else { return nil }
        return try row.makeRandomAccess()[0].decode(T.self)
    }

    /// Tells every listening runner there is work (delivered at commit; `PostgresWorkWatch`).
    package func announceWork() throws {
        try execute(PostgresQuery(unsafeSQL: "NOTIFY \(PostgresStore.workChannel)"))
    }

    /// Rolls back after a failure; false when the connection itself is unusable (a closed one is not tried).
    func rollBack() -> Bool {
        !connection.isClosed && (try? execute("ROLLBACK")) != nil
    }

    /// "Now" for this transaction: the server's clock (read now, inside the transaction), or the caller's. The
    /// caller's closure is always called, since runners note their own instant inside it.
    package func now(_ caller: () -> Int64) throws -> Int64 {
        let theirs = caller()
        switch store.clockSource {
        case .caller: return theirs
        case .database: return try value("SELECT \(unescaped: PostgresStore.serverNowSQL)", as: Int64.self) ?? theirs
        }
    }

    /// The server's "now" for a method that was handed the caller's `now`, and the shift that moves the caller's
    /// instants onto the server's clock (0 with `.caller`).
    package func now(caller: Int64) throws -> (now: Int64, shift: Int64) {
        let now = try self.now { caller }
        return (now, now - caller)
    }
}

extension PostgresRandomAccessRow {
    func get<T: PostgresDecodable>(_ column: String, as: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }
}

extension PostgresStore {
    /// Creates database `name` on the server `location` points to (tests make one per store; `migrate-store` may
    /// create its target). The name is quoted as an identifier.
    public static func createDatabase(_ name: String, on location: PostgresLocation) throws(StoreError) {
        let pool = PostgresConnectionPool(location: location, maxConnections: 1)
        defer { pool.closeAll() }
        let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        do {
            try pool.runOutsideTransaction("CREATE DATABASE \(quoted)")
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot create database \(name) on \(location.display): "
                             + "\((error as? PSQLError)?.serverInfo?[.message] ?? "\(error)")")
        }
    }
}

/// Failures a test injects into a store's transactions.
package final class PostgresFaults: Sendable {
    private let lostReplies = Atomic<Int>(0)
    private let refusalsAfterLostReply = Atomic<Int>(0)
    private let refusals = Atomic<Int>(0)

    /// The next `count` COMMITs succeed but report a lost connection; after each, the next `thenRefuse`
    /// transactions fail before they begin (the network still down).
    package func loseCommitReplies(_ count: Int, thenRefuse: Int = 0) {
        lostReplies.store(count, ordering: .relaxed)
        refusalsAfterLostReply.store(thenRefuse, ordering: .relaxed)
    }

    func loseCommitReply() throws(StoreError) {
        guard Self.take(lostReplies) else { return }
        refusals.add(refusalsAfterLostReply.load(ordering: .relaxed), ordering: .relaxed)
        throw StoreError(.database, "the connection was lost during COMMIT (injected)")
    }

    func refuseTransaction() throws(StoreError) {
        guard Self.take(refusals) else { return }
        throw StoreError(.database, "no connection to PostgreSQL (injected)")
    }

    private static func take(_ counter: borrowing Atomic<Int>) -> Bool {
        var value = counter.load(ordering: .relaxed)
        while value > 0 {
            let (exchanged, now) = counter.compareExchange(expected: value, desired: value - 1, ordering: .relaxed)
            if exchanged { return true }
            value = now
        }
        return false
    }
}
