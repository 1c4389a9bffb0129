import PacerCore
import PacerLimits

/// A running `pacer run` process.
public struct RunnerIdentity: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int32

    public init(id: String, host: String, pid: Int32) {
        self.id = id
        self.host = host
        self.pid = pid
    }
}

/// A registered runner as recovery sees it: who it is and its latest heartbeat (stamped inside a transaction).
public struct RunnerRecord: Sendable, Equatable {
    public var identity: RunnerIdentity
    public var heartbeatAt: Int64

    public init(identity: RunnerIdentity, heartbeatAt: Int64) {
        self.identity = identity
        self.heartbeatAt = heartbeatAt
    }
}

/// The limiter's answer for one call outside the queue (`pacer call`).
public enum Reservation: Sendable, Equatable {
    /// Tokens spent (`id` in the first pool, `also` in the others); settle them with `settle(spends:answeredAt:)`
    /// when the answer arrives.
    case spent(id: Int64, also: [Int64] = [])
    /// Not before this instant.
    case wait(until: Int64)

    /// The spends to settle (none while waiting).
    public var spends: [Int64] {
        if case .spent(let id, let also) = self { return [id] + also }
        return []
    }
}

/// A call leased to a runner, with what it needs to send and judge it.
public struct ClaimedCall: Sendable, Equatable {
    public var id: Int64
    public var run: Int64
    public var account: String
    public var method: HTTPMethod
    public var path: String
    public var params: String
    public var body: String?
    public var weight: Int
    public var idempotent: Bool
    public var attempts: Int
    /// The classification of the previous try, if any (`clock` matters).
    public var lastClass: String?
    public var retry: RetryPolicy
    /// The run's `on:` map, code -> classification name.
    public var overrides: [String: String]
    /// The call's `{{key}}`, and whether it sits in the provider's dedupe field (see `NewCall.keyed`).
    public var key: String?
    public var keyed: Bool
    /// This try looks the order up by its key instead of placing it, and why (see `LookupReason`).
    public var lookup: LookupReason?
    /// The latest earlier try that may have reached the provider (no answer, a 5xx, its runner died), if any.
    public var maybeDoneBy: Int?
    /// The pools it asks to draw from (resolved against the account's pools when it is spent).
    public var pools: PoolDemand

    public init(id: Int64, run: Int64, account: String, method: HTTPMethod, path: String, params: String,
                body: String?, weight: Int, idempotent: Bool, attempts: Int, lastClass: String?, retry: RetryPolicy,
                key: String? = nil, keyed: Bool = false, lookup: LookupReason? = nil, maybeDoneBy: Int? = nil,
                pools: PoolDemand = .default, overrides: [String: String]) {
        self.pools = pools
        self.maybeDoneBy = maybeDoneBy
        self.key = key
        self.keyed = keyed
        self.lookup = lookup
        self.id = id
        self.run = run
        self.account = account
        self.method = method
        self.path = path
        self.params = params
        self.body = body
        self.weight = weight
        self.idempotent = idempotent
        self.attempts = attempts
        self.lastClass = lastClass
        self.retry = retry
        self.overrides = overrides
    }
}

/// Due calls wanted from one account.
public struct ClaimRequest: Sendable, Equatable {
    public var account: String
    public var max: Int
    /// Calls asking for these pools are not wanted (`PoolDemand.claimKey`): the worker holds calls of them that
    /// wait for their pools, and looks for work in the account's other pools meanwhile (docs/pools.md).
    public var excluding: [String]

    public init(account: String, max: Int, excluding: [String] = []) {
        self.account = account
        self.max = max
        self.excluding = excluding
    }
}

extension PoolDemand {
    /// How a claim names calls of this demand: the stored text, `-` for the default (stored as NULL).
    public var claimKey: String { text ?? "-" }
}

/// What one claim request got: its calls, and the account's stored clock offset.
public struct ClaimedBatch: Sendable {
    public var calls: [ClaimedCall]
    /// The provider's clock minus the store's, as last measured by any runner (0 if never).
    public var clockOffsetMilliseconds: Int64
    /// Whether more calls may be due: `false` only when the store knows none is left, so the caller can wait
    /// for a wake instead of claiming again to find nothing. (A claim that filled its count may say `true`.)
    public var mayHaveMore: Bool

    public init(calls: [ClaimedCall], clockOffsetMilliseconds: Int64, mayHaveMore: Bool) {
        self.calls = calls
        self.clockOffsetMilliseconds = clockOffsetMilliseconds
        self.mayHaveMore = mayHaveMore
    }
}

/// Tokens wanted for some of an account's claimed calls, in order: each call names the pools it draws from
/// (`PoolKey`s), and `pools` gives every one of them its windows.
public struct SpendRequest: Sendable {
    public var account: String
    public var calls: [PoolCall]
    public var pools: [String: PoolWindows]
    /// At most this many calls are granted (the worker's free in-flight slots); nil: as many as fit.
    public var maxGranted: Int?

    public init(account: String, calls: [PoolCall], pools: [String: PoolWindows], maxGranted: Int? = nil) {
        self.account = account
        self.calls = calls
        self.pools = pools
        self.maxGranted = maxGranted
    }

    /// Calls of an account with one limit: each draws from its default pool alone.
    public init(account: String, calls: [(id: Int64, weight: Int)], windowMilliseconds: Int64, configuredCount: Int) {
        self.init(account: account, calls: calls.map { PoolCall(id: $0.id, weight: $0.weight, pools: [account]) },
                  pools: [account: PoolWindows([.init(count: configuredCount, milliseconds: windowMilliseconds)])])
    }
}

/// The limiter's answer for a batch of claimed calls: the ones that may leave now (already recorded as spent and
/// dispatched), and when the rest may be tried.
public struct SpendGrant: Sendable, Equatable {
    public var granted: [Int64]
    public var retryAt: Int64?
    /// Calls whose lease this runner no longer holds: they must not be sent.
    public var lost: [Int64]
    /// The instant the tokens were spent (read inside the transaction).
    public var at: Int64
    /// The granted calls that are the probe of a pool's cool-down (`Pacing.takeProbe`): report the acceptance of
    /// each (`probeAccepted`), which ends the cool-down of the pools it was the probe of.
    public var probes: Set<Int64>
    public var probe: Bool { !probes.isEmpty }

    public init(granted: [Int64], retryAt: Int64?, lost: [Int64], at: Int64, probes: Set<Int64> = []) {
        self.granted = granted
        self.retryAt = retryAt
        self.lost = lost
        self.at = at
        self.probes = probes
    }

    /// A grant whose one granted call is a probe (`probe`), or none.
    public init(granted: [Int64], retryAt: Int64?, lost: [Int64], at: Int64, probe: Bool) {
        self.init(granted: granted, retryAt: retryAt, lost: lost, at: at, probes: probe ? Set(granted) : [])
    }
}

/// One finished try of a call and what it leads to.
public struct Completion: Sendable, Equatable {
    public var call: Int64
    public var runner: String
    public var startedAt: Int64
    public var latencyMilliseconds: Int64?
    public var httpStatus: Int?
    public var code: String?
    public var classification: String
    public var message: String?
    /// The state the call moves to.
    public var state: CallState
    /// For `retrying`: the next try looks the order up by its key, and why.
    public var lookup: LookupReason?
    /// This try may have reached the provider without our knowing what it did (no answer, a 5xx, a 408).
    public var mayHaveActed: Bool
    /// The call's attempt count after this try.
    public var attempts: Int
    /// For `retrying`: when to try again.
    public var nextAttemptAt: Int64
    /// For terminal states: the payload and error to store as the call's result.
    public var data: String?
    public var error: String?
    public var finishedAt: Int64
    /// The instant this try's tokens were spent (`SpendGrant.at`, on the store's clock), when known: the answer then
    /// applies only to that try, never to a later one of the same call (a batch written again after its commit's
    /// answer was lost), and settles only the spends up to it.
    public var dispatchedAt: Int64?

    /// The provider took this try (ok, or "already done"): its settled spend is marked so, as evidence of what the
    /// provider accepts (`PacerStore.recordRateLimit`).
    public var accepted: Bool {
        classification == RetryDecision.Kind.ok.name || classification == RetryDecision.Kind.duplicate.name
    }

    public init(call: Int64, runner: String, startedAt: Int64, latencyMilliseconds: Int64?, httpStatus: Int?,
                code: String?, classification: String, message: String?, state: CallState, attempts: Int,
                nextAttemptAt: Int64, data: String?, error: String?, finishedAt: Int64, lookup: LookupReason? = nil,
                mayHaveActed: Bool = false, dispatchedAt: Int64? = nil) {
        self.dispatchedAt = dispatchedAt
        self.lookup = lookup
        self.mayHaveActed = mayHaveActed
        self.call = call
        self.runner = runner
        self.startedAt = startedAt
        self.latencyMilliseconds = latencyMilliseconds
        self.httpStatus = httpStatus
        self.code = code
        self.classification = classification
        self.message = message
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.data = data
        self.error = error
        self.finishedAt = finishedAt
    }
}

/// What is left to do, for `--drain` and progress.
public struct QueueSnapshot: Sendable, Equatable {
    /// Calls not yet terminal, per account.
    public var unfinished: [String: Int]
    /// Unfinished calls of paused accounts, with the reason.
    public var paused: [String: String]

    public init(unfinished: [String: Int], paused: [String: String]) {
        self.unfinished = unfinished
        self.paused = paused
    }

    /// Unfinished calls that some runner can still finish (those of paused accounts wait for a person).
    public var workable: Int { unfinished.filter { paused[$0.key] == nil }.values.reduce(0, +) }
    public var heldByPaused: Int { unfinished.filter { paused[$0.key] != nil }.values.reduce(0, +) }
}

/// An account's limiter state, for the runner and `status`.
public struct AccountPacing: Sendable, Equatable {
    public var pacing: Pacing
    public var clockOffsetMilliseconds: Int64
    /// Weight spent within the window ending now.
    public var spentInWindow: Int
    /// "Now" on the store's clock, as read for this answer: what the pacing's instants compare with.
    public var now: Int64

    public init(pacing: Pacing, clockOffsetMilliseconds: Int64, spentInWindow: Int, now: Int64) {
        self.pacing = pacing
        self.clockOffsetMilliseconds = clockOffsetMilliseconds
        self.spentInWindow = spentInWindow
        self.now = now
    }
}

/// One of the pools a refused call drew from: its key (`PoolKey`), its name as shown in the history, and its
/// shortest window (plus the margin) and that window's configured count.
public struct RefusedPool: Sendable, Equatable {
    public var key: String
    public var name: String
    public var windowMilliseconds: Int64
    public var configuredCount: Int

    public init(key: String, name: String, windowMilliseconds: Int64, configuredCount: Int) {
        self.key = key
        self.name = name
        self.windowMilliseconds = windowMilliseconds
        self.configuredCount = configuredCount
    }
}

/// A pool's limiter state, for `status` and the dashboard.
public struct PoolState: Sendable, Equatable {
    public var pacing: Pacing
    /// The weight it holds in each window (`PoolWindows.windows`' order) at `now`.
    public var spent: [Int]
    /// "Now" on the store's clock, as read for this answer.
    public var now: Int64

    public init(pacing: Pacing, spent: [Int], now: Int64) {
        self.pacing = pacing
        self.spent = spent
        self.now = now
    }
}

/// What recovery did with the calls of dead runners.
public struct Recovery: Sendable, Equatable {
    public var requeued: Int
    public var uncertain: Int
    /// Calls whose abandoned try was their last allowed attempt: they end `dead`, so a call that keeps killing
    /// its runner is not retried forever.
    public var dead: Int
    public var deadRunners: [String]

    public init(requeued: Int, uncertain: Int, dead: Int = 0, deadRunners: [String]) {
        self.requeued = requeued
        self.uncertain = uncertain
        self.dead = dead
        self.deadRunners = deadRunners
    }
}

/// One try of a call, as `show` prints it.
public struct AttemptRecord: Sendable, Equatable {
    public var attempt: Int
    public var runner: String
    public var startedAt: Int64?
    public var latencyMilliseconds: Int64?
    public var httpStatus: Int?
    public var code: String?
    public var classification: String
    public var message: String?

    public init(attempt: Int, runner: String, startedAt: Int64?, latencyMilliseconds: Int64?, httpStatus: Int?,
                code: String?, classification: String, message: String?) {
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

/// One call with its request body and every try (`pacer show`).
public struct CallDetail: Sendable, Equatable {
    public var record: ResultRecord
    public var body: String?
    public var attempts: [AttemptRecord]

    public init(record: ResultRecord, body: String?, attempts: [AttemptRecord]) {
        self.record = record
        self.body = body
        self.attempts = attempts
    }
}

/// What `retry` or `cancel` did to a run.
public struct RunChange: Sendable, Equatable {
    public var run: Int64
    public var calls: Int

    public init(run: Int64, calls: Int) {
        self.run = run
        self.calls = calls
    }
}

/// What `prune` deleted.
public struct PruneSummary: Sendable, Equatable {
    public var runs: Int
    public var calls: Int
    /// The freed space went back to the file system (SQLite: only while no runner is registered).
    public var spaceReturned: Bool

    public init(runs: Int, calls: Int, spaceReturned: Bool = false) {
        self.runs = runs
        self.calls = calls
        self.spaceReturned = spaceReturned
    }
}
