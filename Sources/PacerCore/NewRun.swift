/// A run about to be queued: one job file's worth of calls against one account.
public struct NewRun: Sendable, Equatable {
    public var job: String
    public var account: String
    /// The job file's path as given, for `status` and for re-reading by the scheduler.
    public var jobFile: String
    public var retry: RetryPolicy
    /// The job's `on:` map: provider code -> classification name.
    public var overrides: [String: String]
    public var createdAtMilliseconds: Int64
    /// For a scheduled run, its tick: a second run for the same job and tick is not queued.
    public var scheduleTick: Int64?
    /// `enqueue --unique-for`: queue nothing if a run of this job was created within this many milliseconds.
    public var uniqueWithinMilliseconds: Int64?

    public init(job: String, account: String, jobFile: String, retry: RetryPolicy, overrides: [String: String] = [:],
                createdAtMilliseconds: Int64, scheduleTick: Int64? = nil, uniqueWithinMilliseconds: Int64? = nil) {
        self.job = job
        self.account = account
        self.jobFile = jobFile
        self.retry = retry
        self.overrides = overrides
        self.createdAtMilliseconds = createdAtMilliseconds
        self.scheduleTick = scheduleTick
        self.uniqueWithinMilliseconds = uniqueWithinMilliseconds
    }

    /// For `--unique-for D`: a run of this job created after this instant makes this one unnecessary.
    ///
    /// Cron launches the same line a few milliseconds late or early each time, so "within D" taken literally
    /// skips a launch that comes 100 ms early relative to the previous one, and a `*/5` job with `--unique-for 5m`
    /// loses a tick. The look-back is therefore D less a tolerance of 10% of D (at most 30 s): every launch one
    /// period after the last enqueues, and a second launch within the same period does not.
    public var uniqueSince: Int64? {
        uniqueWithinMilliseconds.map { createdAtMilliseconds - $0 + Self.uniqueTolerance(for: $0) }
    }

    public static func uniqueTolerance(for period: Int64) -> Int64 { min(period / 10, 30_000) }
}

/// One call of a run, fully rendered from its job's templates. It carries no timestamp, nonce or signature:
/// those are made by the runner at the moment the call is sent.
public struct NewCall: Sendable, Equatable {
    /// Position in the run, from 0; also the value of `{{index}}`.
    public var index: Int
    public var method: HTTPMethod
    /// The request path with template values substituted (percent-encoded as path characters).
    public var path: String
    /// The rendered `params` as a compact JSON object, members in the job file's order.
    public var params: String
    /// A rendered `body:` as compact JSON, when the job gives one instead of using `params` as the body.
    public var body: String?
    public var weight: Int
    public var idempotent: Bool
    /// For a job that routes each item to its own account: the account this call goes to.
    public var account: String?
    /// The call's `{{key}}`, when its job uses one: fixed here, at enqueue, and the same on every try.
    public var key: String?
    /// The key sits in the provider's dedupe field for this endpoint, so the provider refuses a second copy:
    /// re-sending after an ambiguous answer is safe, and its duplicate-key answer means "done by an earlier try".
    /// Decided at enqueue, where the account's provider is known.
    public var keyed: Bool
    /// The pools it asks to draw from (docs/pools.md), decided at enqueue from the provider's endpoint table or
    /// the job's `pool:`, and its run's `priority:`.
    public var pools: PoolDemand = .default
    public var priority = 0

    public init(index: Int, method: HTTPMethod, path: String, params: String, body: String?, weight: Int,
                idempotent: Bool, account: String? = nil, key: String? = nil, keyed: Bool = false) {
        self.account = account
        self.key = key
        self.keyed = keyed
        self.index = index
        self.method = method
        self.path = path
        self.params = params
        self.body = body
        self.weight = weight
        self.idempotent = idempotent
    }
}
