import Synchronization

/// The limit each account's provider last stated in its answers. KuCoin repeats `gw-ratelimit-limit` on every
/// answer; remembering it here means the store is written when it changes, not a hundred times a second.
final class QuotaMemory: Sendable {
    private let limits = Mutex<[String: Int]>([:])

    /// Records `limit` for `account`; true when it differs from the one remembered (or is the first).
    func exchange(account: String, limit: Int) -> Bool {
        limits.withLock { $0.updateValue(limit, forKey: account) != limit }
    }
}
