/// How `pacer run` behaves (its command-line flags, and the timings behind leases and heartbeats).
public struct RunnerOptions: Sendable {
    /// Exit once no call is runnable any more (every call terminal or held by a paused account).
    public var drain = false
    /// Requests in flight at once, over all accounts.
    public var concurrency = 16
    /// Stop (gracefully) after this long.
    public var maxSeconds: Double?
    /// Only these accounts; `nil` for all.
    public var accounts: [String]?
    /// Added to every window against network jitter; `nil` for `RateLimit.defaultMargin`.
    public var marginMilliseconds: Int64?
    /// How long a claim holds without a heartbeat. Long enough to ride out a slow request; dead runners on this
    /// host are found sooner by their process id, and elsewhere by a stale heartbeat.
    public var leaseMilliseconds: Int64 = 30_000
    public var heartbeatMilliseconds: Int64 = 1_000
    public var staleAfterMilliseconds: Int64 = 5_000
    /// How often the runner's loop looks for due calls (one read for all accounts) and the drain check runs.
    public var pollMilliseconds: Int64 = 50
    /// With a store that signals new work (PostgreSQL's NOTIFY), how long the loop goes without looking for due
    /// calls when nothing signalled and no known due instant passed (a backstop against a lost notification).
    public var notifiedBackstopMilliseconds: Int64 = 2_000
    /// How long an idle account worker waits for a wake before looking for itself (a backstop only).
    public var idleBackstopMilliseconds: Int64 = 30_000
    /// How often the list of accounts (new, paused, resumed) is re-read.
    public var accountsRefreshMilliseconds: Int64 = 1_000
    /// The most calls claimed at a time per account (a claim takes about this runner's share of one window).
    public var claimBatch = 32

    public init() {}
}
