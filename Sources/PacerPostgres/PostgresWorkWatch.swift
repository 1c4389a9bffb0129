import Logging
import NIOCore
import NIOPosix
import PacerStorage
import PostgresNIO

/// `LISTEN pacer_work` on a connection of its own. Every transaction that makes calls runnable (enqueue, a retry,
/// release, recovery) ends with `NOTIFY pacer_work`; PostgreSQL delivers it at commit to every listening runner
/// on every machine.
extension PostgresStore: WorkNotifying {
    public func watchForWork(_ onWork: @escaping @Sendable () -> Void) throws -> any WorkWatch {
        let dedicated = PostgresConnectionPool(location: location, maxConnections: 1)
        let connection = try dedicated.take()
        connection.addListener(channel: Self.workChannel) { _, _ in onWork() }
        do {
            _ = try PostgresReply.wait(for: connection.query("LISTEN pacer_work", logger: PostgresTransaction.logger),
                                       on: connection, deadlineSeconds: Self.replyDeadlineSeconds,
                                       server: location.display)
        } catch {
            dedicated.give(connection, healthy: false)
            throw plain(error)
        }
        return PostgresWorkWatch(connection: connection, pool: dedicated)
    }

    static let workChannel = "pacer_work"

    /// Behind a pooler in transaction mode a `LISTEN` outlives nothing: runners poll instead.
    public var canWatchForWork: Bool { !location.transactionPooler }
}

final class PostgresWorkWatch: WorkWatch {
    let connection: PostgresConnection
    let pool: PostgresConnectionPool

    init(connection: PostgresConnection, pool: PostgresConnectionPool) {
        self.connection = connection
        self.pool = pool
    }

    var isWatching: Bool { !connection.isClosed }

    func stop() {
        pool.give(connection, healthy: false) // closes it, which ends the LISTEN
    }
}
