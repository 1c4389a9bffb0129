import Foundation

/// The runner's sense of time: epoch milliseconds, and sleeping until an instant. Injected so the pieces that
/// wait can be driven by a test clock.
public protocol RunnerClock: Sendable {
    func now() -> Int64
    /// Sleeps until `instant` (or returns at once if it has passed); throws if the task is cancelled.
    func sleep(until instant: Int64) async throws
}

public struct SystemRunnerClock: RunnerClock {
    public init() {}
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    public func sleep(until instant: Int64) async throws {
        let delay = instant - now()
        if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
    }
}
