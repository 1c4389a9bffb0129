import PacerCore
import Synchronization

/// The shared pools (`pacer pool add`) as this runner last read them, re-read with the accounts (every second
/// by default), so a changed pool reaches running workers within about a second.
final class SharedPoolBook: Sendable {
    private let pools = Mutex<[String: [RateLimit]]>([:])

    var current: [String: [RateLimit]] { pools.withLock { $0 } }

    func update(_ fresh: [String: [RateLimit]]) { pools.withLock { $0 = fresh } }
}
