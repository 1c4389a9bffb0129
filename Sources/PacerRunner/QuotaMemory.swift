import Synchronization

/// What each account's provider last stated about its quota (KuCoin's `gw-ratelimit-*` on every answer), as far as
/// it was written to the store: so a limit is written when it changes, not a hundred times a second, and a low
/// `remaining` at most once a second per account.
final class QuotaMemory: Sendable {
    private struct Written { var limit: Int?; var at: Int64 }
    private let written = Mutex<[String: Written]>([:])
    /// Low `remaining` reports closer together than this are not written again.
    static let minimumSpacingMilliseconds: Int64 = 1_000

    /// Whether a report should be written now.
    func shouldWrite(account: String, limit: Int?, low: Bool, rateLimited: Bool, now: Int64) -> Bool {
        written.withLock { all in
            guard let last = all[account] else { return true }
            if limit != nil && limit != last.limit { return true }
            return (low || rateLimited) && now - last.at >= Self.minimumSpacingMilliseconds
        }
    }

    /// Records a report the store has committed.
    func wrote(account: String, limit: Int?, at now: Int64) {
        written.withLock { all in
            all[account] = Written(limit: limit ?? all[account]?.limit, at: now)
        }
    }
}
