import NIOCore
import PacerStorage
import PostgresNIO
import Synchronization

/// Waits for a statement's reply on a store thread, and never longer than the connection lives or the deadline.
///
/// postgres-nio fails a query's promise when the server answers with an error, but a query written after NIO tore
/// the connection down (the server restarted, or closed the session, between two statements of a transaction) is
/// never answered at all: its write fails into a promise nobody holds. Waiting on the reply alone then blocks the
/// store thread for good, and closing the connection at the deadline does not help (it is already closed). So the
/// wait is on a promise of our own, completed by whichever comes first: the reply, the connection's close, or the
/// deadline (which also closes the connection, so the next call connects again).
enum PostgresReply {
    static func wait<T: Sendable>(for reply: EventLoopFuture<T>, on connection: PostgresConnection,
                                  deadlineSeconds: Int64?, server: String) throws -> T {
        let answer = connection.eventLoop.makePromise(of: T.self)
        let settled = Settled()
        let finish: @Sendable (Result<T, any Error>) -> Void = { result in
            if settled.first() { answer.completeWith(result) }
        }
        reply.whenComplete(finish)
        connection.closeFuture.whenComplete { _ in
            finish(.failure(StoreError(.database, "the connection to PostgreSQL \(server) closed before it answered")))
        }
        let timer = deadlineSeconds.map { seconds in
            connection.eventLoop.scheduleTask(in: .seconds(seconds)) {
                finish(.failure(StoreError(.database, "no answer from PostgreSQL \(server) within \(seconds) s (the "
                                           + "network or the server went silent); the connection was closed")))
                let closing: EventLoopFuture<Void> = connection.close()
                _ = closing
            }
        }
        defer { timer?.cancel() }
        return try answer.futureResult.wait()
    }

    /// True for the first caller only: a NIO promise must be completed once.
    private final class Settled: Sendable {
        private let done = Mutex(false)
        func first() -> Bool { done.withLock { done in defer { done = true }; return !done } }
    }
}
