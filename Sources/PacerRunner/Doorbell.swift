import Synchronization

/// Wakes pausing tasks early: a runner's stop, the end of its heartbeat, an answered cool-down probe. A pause waits
/// on its bells and a timer together (`Runner.pause`), so a thousand pausing workers cost nothing until one is
/// rung or its time comes, where polling a condition cost every worker a wake-up every few milliseconds.
/// Rings are counted: a ring between reading `rings` and waiting is not missed.
final class Doorbell: Sendable {
    private struct State {
        var rings = 0
        var nextTicket = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    /// How many times it has rung.
    var rings: Int { state.withLock { $0.rings } }

    /// Wakes everyone waiting.
    func ring() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.rings += 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once it has rung more than `seen` times, or when the task is cancelled.
    func wait(since seen: Int) async {
        let ticket = state.withLock { s -> Int in s.nextTicket += 1; return s.nextTicket }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.rings != seen || Task.isCancelled { return true }
                    s.waiters[ticket] = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: ticket) }?.resume()
        }
    }
}
