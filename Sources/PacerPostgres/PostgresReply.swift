import Dispatch
import NIOCore
import PacerStorage
import PostgresNIO
import Synchronization

/// Waits for a statement's reply on a store thread, and never longer than the connection lives or the deadline.
///
/// postgres-nio fails a query's promise when the server answers with an error or the connection drops while the
/// query is out, but a query written after NIO tore the connection down (the server restarted, or ended the
/// session, between two statements of a transaction) is never answered at all: its write fails into a promise
/// nobody holds. Waiting on the reply alone then blocks the store thread for good, and closing the connection at
/// the deadline does not help (it is already closed). So the wait looks every half second whether the connection
/// is still open, and past the deadline closes it (the next call connects again). Nothing is registered on the
/// connection itself: a pooled connection serves millions of statements.
enum PostgresReply {
    static func wait<T: Sendable>(for reply: EventLoopFuture<T>, on connection: PostgresConnection,
                                  deadlineSeconds: Int64?, server: String) throws -> T {
        let answered = DispatchSemaphore(value: 0)
        let outcome = Outcome<T>()
        reply.whenComplete { result in
            outcome.set(result)
            answered.signal()
        }
        let deadline = deadlineSeconds.map { DispatchTime.now() + .seconds(Int($0)) }
        while answered.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            if connection.isClosed {
                // A reply on its way when the connection closed has a moment more to land.
                if answered.wait(timeout: .now() + .milliseconds(100)) == .success { break }
                throw StoreError(.database, "the connection to PostgreSQL \(server) closed before it answered")
            }
            if let deadline, let seconds = deadlineSeconds, DispatchTime.now() >= deadline {
                let closing: EventLoopFuture<Void> = connection.close()
                _ = closing
                throw StoreError(.database, "no answer from PostgreSQL \(server) within \(seconds) s (the network or "
                                 + "the server went silent); the connection was closed")
            }
        }
        return try outcome.result!.get()
    }

    private final class Outcome<T: Sendable>: Sendable {
        private let value = Mutex<Result<T, any Error>?>(nil)
        func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
        var result: Result<T, any Error>? { value.withLock { $0 } }
    }
}
