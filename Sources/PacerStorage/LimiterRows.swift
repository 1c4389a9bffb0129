import PacerCore
import PacerLimits

/// The rows the limiter reads and writes, inside one transaction a store opens for it
/// (`PacerStore.limiterTransaction`). Each operation is one statement over a batch; none decides anything: the
/// rules are Swift's (`Limiter.swift` in this module, the maths in PacerLimits). See docs/internals.md.
public protocol LimiterRows {
    /// "Now" for this transaction, read when called: the database server's clock on PostgreSQL, else the caller's.
    /// Called once the locks are held, since an instant read before waiting for them would record sends earlier
    /// than they happen. `caller` is always called (runners note their own instant inside it).
    func now(_ caller: () -> Int64) throws -> Int64

    /// Each account's stored pacing and clock offset (accounts without a row are absent).
    func pacings(_ accounts: [String]) throws -> [String: StoredPacing]
    func savePacings(_ pacings: [String: Pacing]) throws
    func setClockOffset(account: String, milliseconds: Int64) throws

    /// For each account, the weight of its spends still holding tokens: settled ones after `since[account]`, and
    /// every open one.
    func heldWeights(since: [String: Int64]) throws -> [String: Int]
    /// The same spends of one account, each with its instant.
    func spendLog(account: String, since: Int64) throws -> [WindowBudget.Spend]
    /// Marks the calls dispatched at `at` where they are still in flight under `runner`'s lease; returns those.
    func markDispatched(_ calls: [Int64], runner: String, at: Int64) throws -> Set<Int64>
    func insertSpends(_ spends: [NewSpend]) throws
    /// Inserts one spend and returns its id.
    func insertSpend(_ spend: NewSpend) throws -> Int64
    /// Settles a spend: closed, its instant moved to `at` when later.
    func settleSpend(_ id: Int64, at: Int64) throws
    /// Deletes each account's settled spends at or before `before[account]` (open spends are never deleted).
    func deleteSettledSpends(before: [String: Int64]) throws

    /// The latest spend `owner` made for `call`.
    /// A cool-down of `account` runs from `from` until `until`: extends the one still running at `from`, or
    /// starts a new one (the dashboard's history).
    func noteCoolDown(account: String, from: Int64, until: Int64) throws
    /// Cool-downs of `account` still running at `at` end then (a probe was accepted).
    func endCoolDowns(account: String, at: Int64) throws
    func latestSpend(call: Int64, owner: String) throws -> (id: Int64, weight: Int)?
    /// The weight of the account's spends made before spend `spendID` (by id) whose instant and send are both
    /// after `after`.
    func weightSent(account: String, after: Int64, beforeSpend spendID: Int64) throws -> Int
    /// The account's settled, accepted spends with `after < at <= through`, in order of `at`.
    func acceptedSpends(account: String, after: Int64, through: Int64) throws -> [(at: Int64, weight: Int)]
}

extension LimiterRows {
    /// The account's stored pacing with its configured count, or a fresh one.
    func pacing(_ account: String, configured: Int) throws -> Pacing {
        try pacings([account])[account].pacing(configured: configured)
    }

    /// The weight of the account's spends still holding tokens (see `heldWeights`).
    func held(_ account: String, since: Int64) throws -> Int {
        try heldWeights(since: [account: since])[account] ?? 0
    }
}

/// How a limiter transaction is opened.
public enum LimiterAccess: Sendable {
    /// A read: no lock, no durability.
    case read
    /// A write that serialises with every other limiter write on the same accounts.
    case write
    /// The same, committed durably: requests leave as soon as it commits, so a power loss must not roll back the
    /// mark that they were dispatched.
    case durableWrite
}

/// An account's pacing row as stored: the pacing without its configured count, and the clock offset.
public struct StoredPacing: Sendable, Equatable {
    public var pacing: Pacing
    public var clockOffsetMilliseconds: Int64

    public init(pacing: Pacing, clockOffsetMilliseconds: Int64) {
        self.pacing = pacing
        self.clockOffsetMilliseconds = clockOffsetMilliseconds
    }
}

/// A spend to record. `call` is nil for a spend outside the queue (`pacer call`) or a quota hold; `owner` nil for
/// a hold (another client's use of the same quota).
public struct NewSpend: Sendable, Equatable {
    public var account: String
    public var call: Int64?
    public var at: Int64
    public var weight: Int
    public var open: Bool
    public var owner: String?
    public var sentAt: Int64?

    public init(account: String, call: Int64?, at: Int64, weight: Int, open: Bool, owner: String?, sentAt: Int64?) {
        self.account = account
        self.call = call
        self.at = at
        self.weight = weight
        self.open = open
        self.owner = owner
        self.sentAt = sentAt
    }
}
