import Synchronization

/// A clock in epoch milliseconds that moves only when a test moves it.
public final class ManualTime: Sendable {
    private let current: Mutex<Int64>

    public init(_ start: Int64 = 1_795_255_500_000) { current = Mutex(start) }

    public func now() -> Int64 { current.withLock { $0 } }
    public func advance(milliseconds: Int64) { current.withLock { $0 += milliseconds } }
    public func set(_ ms: Int64) { current.withLock { $0 = ms } }
}
