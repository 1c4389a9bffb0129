import Dispatch
import Synchronization

/// Runs the store's synchronous calls off Swift's cooperative thread pool.
///
/// The store's methods block: SQLite waits up to its busy timeout for another process's write lock. On the
/// cooperative pool (one thread per core, two here) two such waits would stall every task of the runner —
/// heartbeats, timers, signal handling. On Linux, `DispatchQueue.global()` and concurrent queues of our own draw
/// from that same width-limited pool, which adds a thread for a blocked one only after about a second. Serial
/// queues are "overcommit": each gets a thread of its own whenever it has work. So store calls go round-robin
/// over a few serial queues, and a long lock wait parks one of those threads and nothing else.
public enum StoreExecutor {
    private static let queues = (0..<8).map { DispatchQueue(label: "pacer.store.\($0)") }
    private static let next = Atomic<Int>(0)

    /// Runs `body` on one of the store's threads, without waiting for it.
    public static func submit(_ body: @escaping @Sendable () -> Void) {
        queues[next.add(1, ordering: .relaxed).newValue % queues.count].async(execute: body)
    }

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }
}
