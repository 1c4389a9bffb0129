import Foundation
import NIOCore
import NIOPosix

/// The runner's sense of time, injected so every wait can be driven by a test clock (`ManualRunnerClock` in the
/// tests). Two faces, kept apart: wall time, which steps when NTP or a resumed VM moves it, and a monotonic
/// instant, which never steps (docs/internals.md, "Time").
public protocol RunnerClock: Sendable {
    /// Wall time in epoch milliseconds: what providers sign, what people read, and (until the limiter moves to a
    /// clock every process on the host shares) the instants the SQLite store records.
    func now() -> Int64
    /// Milliseconds since an arbitrary origin on a clock that never steps: ages, intervals and waits.
    func monotonic() -> Int64
    /// Sleeps `milliseconds` of the monotonic clock (returns at once for zero or less); throws if the task is
    /// cancelled.
    func sleep(milliseconds: Int64) async throws
}

/// The host's clocks. Sleeps are NIO event-loop timers, which arm a relative `timerfd`: on a real host the same as
/// `Task.sleep`'s absolute `CLOCK_BOOTTIME` timer, but libfaketime (how the clock-step tests step the wall clock)
/// moves every absolute timer by its offset, whatever its clock, so only relative timers let a faked step look
/// like a real one (docs/testing.md, "Clock steps").
public struct SystemRunnerClock: RunnerClock {
    private let origin = ContinuousClock.now

    /// A loop of its own for the runner's timers, so that their wake-ups (one per pausing worker) never
    /// wait behind the HTTP client's I/O on the shared event loops, nor delay it.
    private static let timers = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()

    public init() {}
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    public func monotonic() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
    public func sleep(milliseconds: Int64) async throws {
        guard milliseconds > 0 else { return }
        try Task.checkCancellation()
        let timer = Self.timers.scheduleTask(in: .milliseconds(milliseconds)) {}
        try await withTaskCancellationHandler {
            do { try await timer.futureResult.get() } catch { throw CancellationError() }
        } onCancel: {
            timer.cancel()
        }
    }
}
