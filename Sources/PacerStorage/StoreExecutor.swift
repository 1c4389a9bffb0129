import Dispatch
import Synchronization

/// Runs the store's synchronous calls off Swift's cooperative thread pool.
///
/// The store's methods block: SQLite waits up to its busy timeout for another process's write lock. On the
/// cooperative pool (one thread per core, two here) two such waits would stall every task of the runner —
/// heartbeats, timers, signal handling. On Linux, `DispatchQueue.global()` and concurrent queues of our own draw
/// from that same width-limited pool, which adds a thread for a blocked one only after about a second. Serial
/// queues are "overcommit": each gets a thread of its own whenever it has work. So store calls go to whichever
/// of a few serial queues has the fewest calls waiting, and a long lock wait (or a call that never returns) parks
/// one of those threads and nothing queued after it while another is free.
public enum StoreExecutor {
    private static let queues = (0..<8).map { DispatchQueue(label: "pacer.store.\($0)") }
    /// Calls submitted to each queue and not yet finished; `next` breaks ties, so idle queues take turns.
    private static let pending = Mutex([Int](repeating: 0, count: 8))
    private static let next = Atomic<Int>(0)

    /// Runs `body` on one of the store's threads, without waiting for it.
    public static func submit(_ body: @escaping @Sendable () -> Void) {
        let start = next.add(1, ordering: .relaxed).newValue
        let chosen = pending.withLock { pending -> Int in
            var best = start % pending.count
            for step in 1..<pending.count {
                let i = (start + step) % pending.count
                if pending[i] < pending[best] { best = i }
            }
            pending[best] += 1
            return best
        }
        queues[chosen].async {
            body()
            pending.withLock { $0[chosen] -= 1 }
        }
    }

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }
}
