import Synchronization
@testable import PacerRunner

/// A `RunnerClock` that moves only when the test moves it: sleepers wake when the monotonic face passes their
/// instant, or throw when their task is cancelled. The wall face can also step on its own, as NTP steps it.
final class ManualRunnerClock: RunnerClock {
    private struct Sleeper {
        var until: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var wall: Int64
        var monotonic: Int64 = 0
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }
    private let state: Mutex<State>

    init(wall: Int64 = 1_795_255_500_000) { state = Mutex(State(wall: wall)) }

    func now() -> Int64 { state.withLock { $0.wall } }
    func monotonic() -> Int64 { state.withLock { $0.monotonic } }
    var sleepers: Int { state.withLock { $0.sleepers.count } }

    func sleep(milliseconds: Int64) async throws {
        guard milliseconds > 0 else { return }
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.sleepers[id] = Sleeper(until: s.monotonic + milliseconds, continuation: continuation)
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves both faces forward and wakes the sleepers whose instant has come.
    func advance(milliseconds: Int64) {
        let due = state.withLock { s -> [Sleeper] in
            s.monotonic += milliseconds
            s.wall += milliseconds
            let ids = s.sleepers.filter { $0.value.until <= s.monotonic }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0) }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Steps the wall face alone (an NTP step, a resumed VM's correction); nothing that waits notices.
    func stepWall(milliseconds: Int64) { state.withLock { $0.wall += milliseconds } }

    /// Waits (bounded by a count of yields, not by time) until at least `count` tasks sleep on this clock.
    func settle(sleepers count: Int = 1) async -> Bool {
        for _ in 0..<100_000 {
            if sleepers >= count { return true }
            await Task.yield()
        }
        return sleepers >= count
    }
}
