import PacerStorage
import Synchronization

/// The runner's store calls, which it can stop waiting for. A database across a network that goes silent (a
/// partition: no reply, no reset) blocks a call's thread until the connection's own deadline; the runner must
/// still end at `--max-seconds` or a signal. `abandon(waitingSince:)` answers the calls waiting since before an
/// instant with `StoreUnreachable`; the blocked threads finish on their own, and their results are dropped. What
/// they may have committed is the database's truth: a call marked dispatched is recovered as maybe sent.
final class StoreCalls: Sendable {
    private struct State {
        var next = 0
        /// Each call waited for: since when (monotonic), and how to give up on it.
        var waiting: [Int: (since: Int64, giveUp: @Sendable (any Error) -> Void)] = [:]
        var abandoned: StoreUnreachable?
    }
    private let clock: any RunnerClock

    init(clock: any RunnerClock) { self.clock = clock }
    private let state = Mutex(State())

    var abandoned: StoreUnreachable? { state.withLock { $0.abandoned } }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = ResumeOnce(continuation)
            let since = clock.monotonic()
            let giveUp: @Sendable (any Error) -> Void = { once.resume(with: .failure($0)) }
            // Once a call was given up (the store silent through the grace of a stop), the runner is leaving:
            // later calls fail at once instead of each waiting out the grace again.
            let id = state.withLock { s -> Int? in
                guard s.abandoned == nil else { return nil }
                s.next += 1
                s.waiting[s.next] = (since, giveUp)
                return s.next
            }
            guard let id else { return giveUp(abandoned ?? StoreUnreachable(reason: "")) }
            StoreExecutor.submit { [self] in
                // Given up while it waited for a thread: it does not run (a spend run after the runner gave up
                // would mark calls dispatched that are never sent).
                guard state.withLock({ $0.waiting[id] != nil }) else { return }
                let result = Result { try body() }
                state.withLock { _ = $0.waiting.removeValue(forKey: id) }
                once.resume(with: result)
            }
        }
    }

    /// Stops waiting for the calls waiting since before `instant` (monotonic): each throws `StoreUnreachable`.
    /// Once one is given up, `abandoned` says so (the runner then stops retrying its last writes).
    func abandon(waitingSince instant: Int64, _ reason: String) {
        let error = StoreUnreachable(reason: reason)
        let stuck = state.withLock { s -> [@Sendable (any Error) -> Void] in
            let ids = s.waiting.filter { $0.value.since < instant }.map(\.key)
            if !ids.isEmpty && s.abandoned == nil { s.abandoned = error }
            return ids.compactMap { s.waiting.removeValue(forKey: $0)?.giveUp }
        }
        for giveUp in stuck { giveUp(error) }
    }
}

/// The store did not answer before the runner had to end.
public struct StoreUnreachable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "the database did not answer: \(reason)" }
}

/// A continuation resumed by whichever comes first: the store's answer or the runner giving up on it.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }
    func resume(with result: Result<T, any Error>) {
        continuation.withLock { c -> CheckedContinuation<T, any Error>? in defer { c = nil }; return c }?.resume(with: result)
    }
}
