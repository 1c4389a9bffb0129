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

    /// Each pool's stored pacing, keyed by `PoolKey` (the default pool's row, keyed by the account's name, also
    /// holds the account's clock offset); pools without a row are absent.
    func pacings(_ accounts: [String]) throws -> [String: StoredPacing]
    func savePacings(_ pacings: [String: Pacing]) throws
    func setClockOffset(account: String, milliseconds: Int64) throws

    /// For each (pool, since), in order, the weight of the pool's spends still holding tokens: settled ones after
    /// `since`, and every open one. A pool may be asked several times (once per window).
    func heldWeights(_ windows: [(pool: String, since: Int64)]) throws -> [Int]
    /// The same spends of one pool, each with its instant.
    func spendLog(pool: String, since: Int64) throws -> [WindowBudget.Spend]
    /// Marks the calls dispatched at `at` where they are still in flight under `runner`'s lease; returns those.
    func markDispatched(_ calls: [Int64], runner: String, at: Int64) throws -> Set<Int64>
    func insertSpends(_ spends: [NewSpend]) throws
    /// Inserts one spend and returns its id.
    func insertSpend(_ spend: NewSpend) throws -> Int64
    /// Settles a spend: closed, its instant moved to `at` when later.
    func settleSpend(_ id: Int64, at: Int64) throws
    /// Deletes each pool's settled spends at or before `before[pool]` (open spends are never deleted).
    func deleteSettledSpends(before: [String: Int64]) throws

    /// A cool-down of `account`'s `pool` (its name as a person gives it) runs from `from` until `until`: extends
    /// the one still running at `from`, or starts a new one (the dashboard's history).
    func noteCoolDown(account: String, pool: String, from: Int64, until: Int64) throws
    /// Cool-downs of `account`'s `pool` still running at `at` end then (a probe was accepted).
    func endCoolDowns(account: String, pool: String, at: Int64) throws
    /// The latest spend `owner` made for `call` in `pool`.
    func latestSpend(call: Int64, owner: String, pool: String) throws -> (id: Int64, weight: Int)?
    /// The weight of the pool's spends made before spend `spendID` (by id) whose instant and send are both
    /// after `after`.
    func weightSent(pool: String, after: Int64, beforeSpend spendID: Int64) throws -> Int
    /// The pool's settled, accepted spends with `after < at <= through`, in order of `at`.
    func acceptedSpends(pool: String, after: Int64, through: Int64) throws -> [(at: Int64, weight: Int)]
}

extension LimiterRows {
    /// The pool's stored pacing with its configured count, or a fresh one.
    func pacing(_ pool: String, configured: Int) throws -> Pacing {
        try pacings([pool])[pool].pacing(configured: configured)
    }

    /// The weight of the pool's spends still holding tokens (see `heldWeights`).
    func held(_ pool: String, since: Int64) throws -> Int {
        try heldWeights([(pool, since)])[0]
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
    /// The pool it is spent from (`PoolKey`).
    public var pool: String
    public var call: Int64?
    public var at: Int64
    public var weight: Int
    public var open: Bool
    public var owner: String?
    public var sentAt: Int64?

    public init(pool: String, call: Int64?, at: Int64, weight: Int, open: Bool, owner: String?, sentAt: Int64?) {
        self.pool = pool
        self.call = call
        self.at = at
        self.weight = weight
        self.open = open
        self.owner = owner
        self.sentAt = sentAt
    }
}
