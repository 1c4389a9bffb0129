import PacerCore
import PacerStorage
import Synchronization

/// The limiter's history as this runner saw it (the dashboard's charts): weight sent and refusals, per account
/// and bucket of one window, summed in memory and written in one batch each heartbeat (`flush`), never a row per
/// call. Instants on the store's clock; a bucket starts at a multiple of its width, so every runner's counts for
/// the same bucket add up in one row.
final class HistoryRecorder: Sendable {
    /// One row of the store's: a limit changed mid-run (a new window) must not give the same row twice in a batch.
    private struct Key: Hashable {
        var account: String
        var pool: String
        var start: Int64
    }
    private let pending = Mutex<[Key: (width: Int64, sent: Int, refused: Int)]>([:])

    /// `weight` left for `account` at `at` from its `pool` (`""` the default pool); `window` is the pool's shortest
    /// window (the bucket's width).
    func sent(account: String, pool: String = "", weight: Int, at: Int64, window: Int64) {
        add(account: account, pool: PoolKey.display(pool), at: at, window: window, sent: weight, refused: 0)
    }

    /// The provider refused a call of `account` sent at `at`, charged to `pool`.
    func refused(account: String, pool: String = "", at: Int64, window: Int64) {
        add(account: account, pool: PoolKey.display(pool), at: at, window: window, sent: 0, refused: 1)
    }

    private func add(account: String, pool: String, at: Int64, window: Int64, sent: Int, refused: Int) {
        let width = max(1, window)
        let start = at - ((at % width) + width) % width // floor, also for instants before 1970
        pending.withLock { buckets in
            let key = Key(account: account, pool: pool, start: start)
            let old = buckets[key] ?? (width, 0, 0)
            buckets[key] = (old.width, old.sent + sent, old.refused + refused)
        }
    }

    /// Everything counted since the last take, in the store's key order (runners writing the same rows lock them
    /// in one order, so they cannot deadlock).
    func take() -> [HistoryBucket] {
        pending.withLock { buckets in
            defer { buckets = [:] }
            return buckets.map { key, counts in
                HistoryBucket(account: key.account, pool: key.pool, start: key.start, widthMilliseconds: counts.width,
                              sent: counts.sent, refused: counts.refused)
            }.sorted { ($0.account, $0.start, $0.pool) < ($1.account, $1.start, $1.pool) }
        }
    }

    /// Puts back buckets a failed write could not store (they are added to anything counted since).
    func putBack(_ buckets: [HistoryBucket]) {
        for b in buckets {
            add(account: b.account, pool: b.pool, at: b.start, window: b.widthMilliseconds, sent: b.sent, refused: b.refused)
        }
    }
}
