import PacerCore

/// The rows completion, recovery and release read and write, inside one transaction a store opens for them
/// (`PacerStore.callTransaction`). Each operation is one statement over a batch (SQLite may prepare it once and run
/// it per row); none decides anything: the rules are Swift's (`CallRules.swift`, applied in `Completing.swift` and
/// `Recovering.swift`). See docs/internals.md.
public protocol CallRows {
    /// "Now" for this transaction, as `LimiterRows.now`: the database server's clock on PostgreSQL, else the caller's.
    func now(_ caller: () -> Int64) throws -> Int64

    /// The calls' rows (with their run's retry limit and cancel mark), locked against other writers until the
    /// transaction ends: on PostgreSQL their runs first, shared (the order a cancel takes them in), then the calls
    /// in id order. A call that no longer exists is absent.
    func lockCalls(_ ids: [Int64]) throws -> [CallRow]
    /// The errors of the calls' stored results, read by a statement of its own once the calls are locked: on
    /// PostgreSQL a statement that waited for a row lock sees the row as committed since, but not the other
    /// tables (a recovery's results written in the same commit).
    func resultErrors(_ ids: [Int64]) throws -> [Int64: String]
    /// The same for every in-flight call whose lease owner is not a registered runner.
    func orphanedCalls() throws -> [CallRow]
    /// Writes each row's mutable columns (state, attempts, due time, classification, lookup, lease, dispatch).
    func writeCalls(_ rows: [CallRow]) throws
    /// Records tries. A try recorded already (same call, runner, start and classification: a batch written again
    /// after its COMMIT's reply was lost) is not recorded twice.
    func insertAttempts(_ attempts: [AttemptRow]) throws
    /// Inserts or replaces each call's result.
    func writeResults(_ results: [ResultRow]) throws

    /// The spends each owner made for each call.
    func spends(of calls: [(call: Int64, owner: String)]) throws -> [CallSpend]
    /// Closes spends, each at the later of its instant and the one given, marked accepted or not.
    func settleSpends(_ settlements: [SpendSettlement]) throws
    /// Closes every open spend whose owner is not a registered runner, at the later of its instant and `at`.
    func settleUnownedSpends(at: Int64) throws

    /// Whether this transaction may recover: false when another recovery is under way (PostgreSQL; the other does
    /// the work). SQLite's write lock already serialises them.
    func takeRecoveryTurn() throws -> Bool
    func runners() throws -> [RunnerRecord]
    /// Deletes each runner whose heartbeat is still the one given (one that beat since it was read stays) and
    /// returns the ids deleted.
    func deleteRunners(_ records: [RunnerRecord]) throws -> [String]
    /// Tells idle runners that calls became due (PostgreSQL's NOTIFY; nothing on SQLite, whose runners poll).
    func announceWork() throws

    /// Locks run `run`'s row against other writers (a retry and a cancel of one run take turns across machines);
    /// false when there is no such run.
    func lockRun(_ run: Int64) throws -> Bool
    /// Marks the run cancelled at `at`, or not cancelled (nil).
    func setRunCancelled(_ run: Int64, at: Int64?) throws
    /// How many of the run's calls are in `states`.
    func countCalls(run: Int64, in states: Set<CallState>) throws -> Int
    /// A page of the run's calls in `states` with ids after `after`, in id order, locked as `lockCalls` locks them.
    func runCalls(run: Int64, in states: Set<CallState>, after: Int64, limit: Int) throws -> [CallRow]
    /// Deletes the calls' results.
    func deleteResults(_ calls: [Int64]) throws
}

/// A call's row as completion, recovery and release read and write it.
public struct CallRow: Sendable, Equatable {
    public var id: Int64
    public var state: CallState
    public var attempts: Int
    public var nextAttemptAt: Int64
    public var lastClass: String?
    public var lookup: LookupReason?
    public var maybeDoneBy: Int?
    public var leaseOwner: String?
    public var leaseExpiresAt: Int64?
    public var dispatchedAt: Int64?
    public var idempotent: Bool
    public var keyed: Bool
    /// Read only: its run's allowed attempts and whether an operator cancelled the run.
    public var retryAttempts: Int
    public var runCancelled: Bool
    /// Read only, and only where a rule needs it (`resultErrors`): the error of the call's stored result.
    public var resultError: String?

    public init(id: Int64, state: CallState, attempts: Int = 0, nextAttemptAt: Int64 = 0, lastClass: String? = nil,
                lookup: LookupReason? = nil, maybeDoneBy: Int? = nil, leaseOwner: String? = nil,
                leaseExpiresAt: Int64? = nil, dispatchedAt: Int64? = nil, idempotent: Bool = true, keyed: Bool = false,
                retryAttempts: Int = RetryPolicy.default.attempts, runCancelled: Bool = false,
                resultError: String? = nil) {
        self.id = id
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastClass = lastClass
        self.lookup = lookup
        self.maybeDoneBy = maybeDoneBy
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.dispatchedAt = dispatchedAt
        self.idempotent = idempotent
        self.keyed = keyed
        self.retryAttempts = retryAttempts
        self.runCancelled = runCancelled
        self.resultError = resultError
    }
}

/// One try of a call, as the history keeps it.
public struct AttemptRow: Sendable, Equatable {
    public var call: Int64
    public var attempt: Int
    public var runner: String
    public var startedAt: Int64?
    public var latencyMilliseconds: Int64?
    public var httpStatus: Int?
    public var code: String?
    public var classification: String
    public var message: String?

    public init(call: Int64, attempt: Int, runner: String, startedAt: Int64?, latencyMilliseconds: Int64? = nil,
                httpStatus: Int? = nil, code: String? = nil, classification: String, message: String?) {
        self.call = call
        self.attempt = attempt
        self.runner = runner
        self.startedAt = startedAt
        self.latencyMilliseconds = latencyMilliseconds
        self.httpStatus = httpStatus
        self.code = code
        self.classification = classification
        self.message = message
    }
}

/// A call's final result.
public struct ResultRow: Sendable, Equatable {
    public var call: Int64
    public var httpStatus: Int?
    public var code: String?
    public var data: String?
    public var error: String?
    public var finishedAt: Int64

    public init(call: Int64, httpStatus: Int? = nil, code: String? = nil, data: String? = nil, error: String?,
                finishedAt: Int64) {
        self.call = call
        self.httpStatus = httpStatus
        self.code = code
        self.data = data
        self.error = error
        self.finishedAt = finishedAt
    }
}

/// A limiter spend made for a call.
public struct CallSpend: Sendable, Equatable {
    public var id: Int64
    public var call: Int64
    public var owner: String
    public var at: Int64
    public var open: Bool
    /// The pool it was spent from (`PoolKey`): a call draws from several, a spend each.
    public var pool: String

    public init(id: Int64, call: Int64, owner: String, at: Int64, open: Bool, pool: String = "") {
        self.pool = pool
        self.id = id
        self.call = call
        self.owner = owner
        self.at = at
        self.open = open
    }
}

/// A spend to close.
public struct SpendSettlement: Sendable, Equatable, Hashable {
    public var id: Int64
    public var at: Int64
    public var accepted: Bool

    public init(id: Int64, at: Int64, accepted: Bool) {
        self.id = id
        self.at = at
        self.accepted = accepted
    }
}
