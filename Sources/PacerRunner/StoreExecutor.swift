import Dispatch

/// Runs the store's synchronous calls off Swift's cooperative thread pool.
///
/// The store's methods block: SQLite waits up to its busy timeout for another process's write lock. On the
/// cooperative pool (one thread per core, two here) two such waits would stall every task of the runner —
/// heartbeats, timers, signal handling. Dispatch's global queue adds threads while some are blocked, so a long
/// lock wait costs one parked thread and nothing else.
enum StoreExecutor {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
