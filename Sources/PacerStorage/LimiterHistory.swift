/// The limiter's history, for the dashboard (`GET /api/accounts/NAME/history`): what runners sent and what the
/// provider refused per bucket of one window, and the cool-downs. Written in aggregate by the runners
/// (`HistoryRecorder`), cool-downs by the limiter's rules (`Limiter.recordRateLimit`), trimmed by `prune`.
public struct HistoryBucket: Sendable, Equatable, Hashable {
    public var account: String
    public var pool: String
    /// The bucket's first instant (a multiple of its width) and its width: the account's window.
    public var start: Int64
    public var widthMilliseconds: Int64
    /// Weight sent, and rate-limit refusals answered, in the bucket.
    public var sent: Int
    public var refused: Int

    public init(account: String, pool: String = "default", start: Int64, widthMilliseconds: Int64, sent: Int,
                refused: Int) {
        self.account = account
        self.pool = pool
        self.start = start
        self.widthMilliseconds = widthMilliseconds
        self.sent = sent
        self.refused = refused
    }
}

public struct CoolDownSpan: Sendable, Equatable {
    public var pool: String
    public var from: Int64
    public var until: Int64

    public init(pool: String = "default", from: Int64, until: Int64) {
        self.pool = pool
        self.from = from
        self.until = until
    }
}

/// One account's history since an instant, oldest first; instants on the wall clock (for display).
public struct AccountHistory: Sendable, Equatable {
    public var buckets: [HistoryBucket]
    public var coolDowns: [CoolDownSpan]

    public init(buckets: [HistoryBucket], coolDowns: [CoolDownSpan]) {
        self.buckets = buckets
        self.coolDowns = coolDowns
    }
}

/// How far back a history read looks for buckets still open at its start: a day (a window longer than that is not
/// charted), so a read is a range over the account's index, not a scan of all it ever had.
public let historyReachMilliseconds: Int64 = 86_400_000
