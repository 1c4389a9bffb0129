import PacerCore
import PacerLimits

/// Everything Pacer keeps, behind one protocol: `SQLiteStore` (PacerSQLite, the embedded default) and
/// `PostgresStore` (PacerPostgres, several machines) conform, checked by one conformance suite (`StoreConformance`
/// in the tests). This module links no database library.
///
/// Methods are synchronous and each is one transaction: the callers are command-line verbs and runner loops that
/// already run off the main thread, and a transaction that spans an `await` would hold SQLite's write lock
/// across unrelated work.
public protocol PacerStore: Sendable {
    /// See the extension's default (false): true for a store that stamps with the database server's clock.
    var keepsItsOwnClock: Bool { get }
    /// See the extension's default (nil): the store's clock, when a runner can read it where it runs (SQLite's
    /// host clock) instead of following it from its heartbeats (PostgreSQL's server).
    var localClock: (@Sendable () -> Int64)? { get }
    /// See the extension's default (false): true for a store reached over a network, whose calls can go
    /// unanswered (a partition) rather than fail.
    var isAcrossANetwork: Bool { get }

    // MARK: Accounts
    /// Adds accounts in one transaction, all or none; an existing name is an error unless `replace` is set.
    func addAccounts(_ accounts: [Account], replace: Bool, nowMilliseconds: Int64) throws(StoreError)
    /// Removes an account. Refused while runs reference it, unless `purgeRuns` deletes them with their calls.
    func removeAccount(named name: String, purgeRuns: Bool) throws(StoreError)
    func accounts() throws(StoreError) -> [Account]
    func account(named name: String) throws(StoreError) -> Account?

    // MARK: Shared pools
    /// Adds (or with `replace`, changes) a shared pool.
    func addSharedPool(_ pool: SharedPool, replace: Bool, nowMilliseconds: Int64) throws(StoreError)
    /// Removes a shared pool; refused (`poolInUse`, naming them) while accounts name it.
    func removeSharedPool(named name: String) throws(StoreError)
    /// Every shared pool, by name, with the accounts that name it.
    func sharedPools() throws(StoreError) -> [SharedPool]

    // MARK: Queue
    /// Inserts every run and all its calls in one transaction: if any run's call producer throws, nothing at all
    /// is written and the error is rethrown.
    func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun]

    // MARK: Runners and leases
    /// Registers a runner; its heartbeat is stamped with `now()` read once the transaction holds the lock, and
    /// that instant is returned.
    @discardableResult
    func registerRunner(_ runner: RunnerIdentity, now: () -> Int64) throws -> Int64
    /// Renews the runner's heartbeat and extends the leases of the calls it holds, with `now()` read inside the
    /// transaction, and returns that instant. Returns nil when the runner is no longer registered: another runner
    /// declared it dead and gave its calls away, so it must stop sending and register again under a new id.
    func heartbeat(runner: String, now: () -> Int64, leaseMilliseconds: Int64) throws -> Int64?
    func unregisterRunner(_ runner: String) throws
    /// Runs `body` in one transaction over the rows of calls, runners and their spends. Completion, recovery and
    /// release are written once over these rows (`Completing.swift`, `Recovering.swift`; the rules in
    /// `CallRules.swift`): `complete`, `recoverAbandoned`, `release`.
    func callTransaction<T>(_ body: (any CallRows) throws -> T) throws -> T
    /// For each request, in one transaction: leases up to `max` due calls of its account to `runner`, due retries
    /// first and then calls never tried, each soonest first (nothing for a paused account); reads the account's
    /// stored clock offset (the provider's clock minus the store's); and says whether more may be due. The runner gathers the claims of all its accounts into one commit, as it does spends.
    /// `now` and the lease's end are on the caller's clock. Throws `runnerDeclaredDead` when `runner` is not
    /// registered.
    func claim(_ requests: [ClaimRequest], runner: String, nowMilliseconds: Int64, leaseUntil: Int64) throws -> [ClaimedBatch]

    // MARK: Limiter
    /// Runs `body` in one transaction whose limiter writes on `accounts` are serialised with every other
    /// process's (SQLite's write lock; PostgreSQL's advisory locks, taken in one statement in name order). With
    /// `runner`, throws `runnerDeclaredDead` when it is not registered. The limiter's rules are written once, over
    /// these rows (`Limiter.swift`): `spend`, `reserve`, `settle`, `pacing`, `recordRateLimit`, `probeAccepted`,
    /// `recordQuota`, `setClockOffset`.
    func limiterTransaction<T>(accounts: [String], runner: String?, access: LimiterAccess,
                               _ body: (any LimiterRows) throws -> T) throws -> T
    @discardableResult
    func pauseAccount(_ name: String, reason: String, nowMilliseconds: Int64) throws -> Bool
    func resumeAccount(_ name: String) throws

    // MARK: The queue at a glance
    func snapshot(accounts: [String]?) throws -> QueueSnapshot
    /// Whether any call of an active (not paused) account is unfinished: the cheap question `--drain` asks
    /// every turn (an index probe, however many calls are queued or finished).
    func hasWork(accounts: [String]?) throws -> Bool
    /// For each active account with calls waiting to be claimed: the earliest instant one is due. What wakes an
    /// idle runner's workers, instead of each one polling with a write transaction.
    func nextDue() throws -> [String: Int64]

    // MARK: Schedules
    /// Registers (or replaces) a schedule; ticks before `registeredAt` are never enqueued.
    func addSchedule(_ schedule: ScheduleRecord) throws
    func removeSchedule(job: String) throws(StoreError)
    func schedules() throws -> [ScheduleRecord]
    /// Records a tick's outcome: the latest tick handled, ticks skipped, the file's error (or its new good text).
    func updateSchedule(job: String, lastTick: Int64?, addMissed: Int, lastError: String?, source: String?) throws

    // MARK: Reports
    func status() throws(StoreError) -> StatusReport
    /// Calls that reached a final state since `since`, per account (for rates and ETAs).
    func finishedSince(_ since: Int64) throws -> [String: Int]
    /// For people: calls by final state and provider code, the slowest tries, and the calls that did not succeed.
    func resultSummary(run: Int64?, slowest: Int, failures: Int) throws -> ResultSummary
    /// Visits one record per call, in run and call order, without loading them all at once.
    func results(run: Int64?, _ visit: (ResultRecord) throws -> Void) throws

    // MARK: Operating runs (`show`, `retry`, `cancel`, `prune`, the dashboard)
    /// One call: its request, state, result and every try; nil for an unknown id.
    func callDetail(_ call: Int64) throws -> CallDetail?
    /// A page of a run's calls in id order, those after call `after`, optionally only in `state` or with the
    /// provider's `code`. Throws `notFound` for an unknown run.
    func calls(run: Int64, state: CallState?, code: String?, after: Int64?, limit: Int) throws -> [ResultRecord]
    /// Deletes the runs whose calls are all final and whose last call ended before `finishedBefore` (a run without
    /// calls: created before it), with their calls, tries and results, and gives the space back.
    func prune(finishedBefore: Int64) throws -> PruneSummary

    // MARK: History (the dashboard's charts)
    /// Adds the buckets' counts to what is stored for the same account, pool and bucket.
    func addHistory(_ buckets: [HistoryBucket]) throws
    /// Deletes history that ended before `before` (the store's clock).
    func trimHistory(before: Int64) throws
    /// `account`'s buckets and cool-downs from `since` (wall clock) on, with instants on the wall clock.
    func history(account: String, since: Int64) throws -> AccountHistory
    /// How many of `run`'s calls ended in each bucket of `width` milliseconds from `since` (wall clock) on:
    /// bucket start (wall clock, a multiple of `width`) to count, oldest first.
    func runProgress(run: Int64, since: Int64, width: Int64) throws -> [(at: Int64, finished: Int)]
}

extension PacerStore {
    /// Adds one account; an existing name is an error unless `replace` is set.
    public func addAccount(_ account: Account, replace: Bool, nowMilliseconds: Int64) throws(StoreError) {
        try addAccounts([account], replace: replace, nowMilliseconds: nowMilliseconds)
    }

    /// Leases up to `max` due calls of `account` to `runner`, soonest first (the one-account form of `claim`).
    public func claim(account: String, runner: String, nowMilliseconds: Int64, leaseUntil: Int64,
                      max: Int) throws -> [ClaimedCall] {
        try claim([ClaimRequest(account: account, max: max)], runner: runner, nowMilliseconds: nowMilliseconds,
                  leaseUntil: leaseUntil)[0].calls
    }

    /// Whether calls can go unanswered: a database across a network. False for SQLite.
    public var isAcrossANetwork: Bool { false }

    /// Whether the store stamps instants with a clock of its own (the database server's, the host's steady
    /// clock) rather than taking the caller's: runners then hand it their instants moved onto that clock.
    public var keepsItsOwnClock: Bool { false }

    /// No clock a runner can read directly: it follows the store's from its heartbeats.
    public var localClock: (@Sendable () -> Int64)? { nil }
}

/// A run to queue. `produceCalls` is called inside the store's transaction and hands each call to `emit`;
/// streaming this way keeps memory flat for runs of millions of calls.
///
/// A *routed* run (a job whose items each name their account) becomes one run per account its calls name:
/// `run.account` is ignored, every call carries its `account`, and a run is created for an account the first
/// time a call names it (an unknown account is an error, and nothing is written).
public struct RunToEnqueue {
    public var run: NewRun
    public var routed: Bool
    public var produceCalls: (_ emit: (NewCall) throws -> Void) throws -> Void

    public init(run: NewRun, routed: Bool = false,
                produceCalls: @escaping (_ emit: (NewCall) throws -> Void) throws -> Void) {
        self.run = run
        self.routed = routed
        self.produceCalls = produceCalls
    }
}

public struct EnqueuedRun: Sendable, Equatable {
    /// The new run, or when `skipped`, the existing run that made this one unnecessary.
    public var run: Int64
    public var job: String
    public var account: String
    public var calls: Int
    /// Nothing was queued: the tick was already enqueued, or a run was created within `--unique-for`.
    public var skipped: Bool = false
    /// The pools its calls draw from, as shown (`spot`, `default`), and the weight of each call in each.
    public var pools: [String] = []
    public var weight = 1

    public init(run: Int64, job: String, account: String, calls: Int, skipped: Bool = false) {
        self.run = run
        self.job = job
        self.account = account
        self.calls = calls
        self.skipped = skipped
    }
}

public struct StatusReport: Sendable, Equatable {
    public var runs: [RunStatus]
    public var accounts: [AccountStatus]

    public init(runs: [RunStatus], accounts: [AccountStatus]) {
        self.runs = runs
        self.accounts = accounts
    }
}

public struct RunStatus: Sendable, Equatable {
    public var run: Int64
    public var job: String
    public var account: String
    public var createdAtMilliseconds: Int64
    public var counts: [CallState: Int]

    public var total: Int { counts.values.reduce(0, +) }
    public var finished: Int { counts.filter { $0.key.isTerminal }.values.reduce(0, +) }

    public init(run: Int64, job: String, account: String, createdAtMilliseconds: Int64, counts: [CallState: Int]) {
        self.run = run
        self.job = job
        self.account = account
        self.createdAtMilliseconds = createdAtMilliseconds
        self.counts = counts
    }
}

public struct AccountStatus: Sendable, Equatable {
    public var account: String
    public var provider: Provider
    public var limit: RateLimit
    public var pausedReason: String?
    /// Calls of this account in each state, over all runs.
    public var counts: [CallState: Int]

    public var paused: Bool { pausedReason != nil }

    public init(account: String, provider: Provider, limit: RateLimit, pausedReason: String?, counts: [CallState: Int]) {
        self.account = account
        self.provider = provider
        self.limit = limit
        self.pausedReason = pausedReason
        self.counts = counts
    }
}

/// One call and its outcome, as `pacer results` prints it.
public struct ResultRecord: Sendable, Equatable {
    public var run: Int64
    public var call: Int64
    public var job: String
    public var account: String
    public var method: String
    public var path: String
    /// Compact JSON object text.
    public var params: String
    public var state: CallState
    public var attempts: Int
    public var httpStatus: Int?
    public var code: String?
    /// The provider's payload as JSON text, when there was one.
    public var data: String?
    public var error: String?
    public var finishedAtMilliseconds: Int64?
    /// The call's `{{key}}`, when its job used one: the order's client id at the provider.
    public var key: String?

    public init(run: Int64, call: Int64, job: String, account: String, method: String, path: String, params: String, state: CallState, attempts: Int, httpStatus: Int?, code: String?, data: String?, error: String?, finishedAtMilliseconds: Int64?, key: String? = nil) {
        self.key = key
        self.run = run
        self.call = call
        self.job = job
        self.account = account
        self.method = method
        self.path = path
        self.params = params
        self.state = state
        self.attempts = attempts
        self.httpStatus = httpStatus
        self.code = code
        self.data = data
        self.error = error
        self.finishedAtMilliseconds = finishedAtMilliseconds
    }
}
