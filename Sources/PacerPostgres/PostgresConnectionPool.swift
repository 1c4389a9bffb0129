import Dispatch
import Logging
import NIOCore
import NIOPosix
import PacerStorage
import PostgresNIO
import Synchronization

/// A few connections, taken one per transaction and given back after it.
///
/// postgres-nio's own pool (`PostgresClient`) is async; the store's methods are synchronous and run on their own
/// threads (see `PostgresStore`), so a plain blocking pool over `PostgresConnection`s fits better. A caller that
/// finds every connection taken opens another, up to `maxConnections`, then waits for one to come back.
final class PostgresConnectionPool: Sendable {
    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var closed = false
    }

    let location: PostgresLocation
    let maxConnections: Int
    private let state = Mutex(State())
    private let returned = DispatchSemaphoreBox()
    private static let logger = Logger(label: "pacer.postgres")
    private static let nextID = Atomic<Int>(0)

    init(location: PostgresLocation, maxConnections: Int) {
        self.location = location
        self.maxConnections = max(1, maxConnections)
    }

    /// How long a caller waits for a connection when all are taken.
    static let takeTimeoutSeconds = 30.0

    func take() throws(StoreError) -> PostgresConnection {
        let deadline = DispatchTime.now() + Self.takeTimeoutSeconds
        while true {
            enum Step { case use(PostgresConnection), open, wait }
            let step = state.withLock { state -> Step in
                if let connection = state.idle.popLast() { return .use(connection) }
                if state.open < maxConnections {
                    state.open += 1
                    return .open
                }
                return .wait
            }
            switch step {
            case .use(let connection):
                if !connection.isClosed { return connection }
                state.withLock { $0.open -= 1 }
            case .open:
                do { return try connect() } catch {
                    state.withLock { $0.open -= 1 }
                    returned.signal()
                    throw error
                }
            case .wait:
                if DispatchTime.now() > deadline {
                    throw StoreError(.database, "no connection to PostgreSQL \(location.display) came free within "
                                     + "\(Int(Self.takeTimeoutSeconds)) s")
                }
                returned.wait(seconds: 1)
            }
        }
    }

    func give(_ connection: PostgresConnection, healthy: Bool) {
        let keep = healthy && !connection.isClosed
        let close = state.withLock { state -> Bool in
            if keep && !state.closed {
                state.idle.append(connection)
                return false
            }
            state.open -= 1
            return true
        }
        if close {
            // Waited for: postgres-nio requires a connection to be closed before it is released.
            let closing: EventLoopFuture<Void> = connection.close()
            try? closing.wait()
        }
        returned.signal()
    }

    /// Runs one statement that cannot run inside a transaction (`CREATE DATABASE`, `VACUUM`) on a connection of
    /// the pool; the server's error is thrown as it came.
    func runOutsideTransaction(_ sql: String) throws {
        let connection = try take()
        var healthy = true
        defer { give(connection, healthy: healthy) }
        do {
            _ = try PostgresReply.wait(for: connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger),
                                       on: connection, deadlineSeconds: nil, server: location.display)
        } catch {
            healthy = false
            throw error
        }
    }

    func closeAll() {
        let idle = state.withLock { state -> [PostgresConnection] in
            state.closed = true
            defer { state.idle = [] }
            return state.idle
        }
        for connection in idle {
            let closing: EventLoopFuture<Void> = connection.close()
            try? closing.wait()
        }
    }

    /// Every session's limits. A client that stops in the middle of a transaction (its machine lost, its process
    /// paused) is cut off after 5 s, which releases its locks (a limiter lock, its runner row) for every other
    /// machine. A lock wait fails after 2 s and is retried by its caller, well inside the 5 s of stillness it
    /// takes to declare a runner dead, so a spend queued behind a stalled machine never holds up its own runner's
    /// heartbeat that long. Migrations and enqueues lift these limits for their own transactions.
    static let sessionSettings = settings(local: false)

    /// The same limits for one transaction only: behind a pooler in transaction mode (`pooler=transaction`) a
    /// connection's next transaction may run in another server session, so each sets its own.
    static let transactionSettings = settings(local: true)

    private static func settings(local: Bool) -> String {
        """
        SELECT set_config('idle_in_transaction_session_timeout', '5s', \(local)),
               set_config('lock_timeout', '2s', \(local)),
               set_config('statement_timeout', '60s', \(local))
        """
    }

    private func connect() throws(StoreError) -> PostgresConnection {
        let configuration = try location.configuration()
        let id = Self.nextID.add(1, ordering: .relaxed).newValue
        do {
            let connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                            configuration: configuration, id: id, logger: Self.logger).wait()
            do {
                guard !location.transactionPooler else { return connection }
                let settings = connection.query(PostgresQuery(unsafeSQL: Self.sessionSettings), logger: Self.logger)
                _ = try PostgresReply.wait(for: settings, on: connection, deadlineSeconds: PostgresStore.replyDeadlineSeconds,
                                           server: location.display)
            } catch {
                let closing: EventLoopFuture<Void> = connection.close()
                try? closing.wait()
                throw error
            }
            return connection
        } catch {
            let detail = (error as? PSQLError)?.serverInfo?[.message] ?? "\((error as? PSQLError)?.code.description ?? "\(error)")"
            throw StoreError(.database, "cannot connect to PostgreSQL \(location.display): \(detail)")
        }
    }
}

/// A counting semaphore that waits at most a while (a connection given back wakes one waiter).
final class DispatchSemaphoreBox: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func signal() { semaphore.signal() }
    func wait(seconds: Double) { _ = semaphore.wait(timeout: .now() + seconds) }
}
