import Foundation
import Logging
import PacerCore
import PacerProviders
import PacerStorage
import Synchronization

/// `pacer run`: one worker per account, a shared in-flight bound, a heartbeat that keeps leases alive and
/// recovers the calls of dead runners, and batched completions.
///
/// Any number of runners may share one database: claims are exclusive (leases), and every send spends tokens
/// from the account's bucket in the store, so the limit holds across processes. A runner that another declared
/// dead (it was paused, or its heartbeat could not be written for longer than the stale threshold) is fenced by
/// the store: it can neither claim nor spend until it registers again under a new id, and it sends nothing
/// while its own last heartbeat is older than half that threshold.
public final class Runner: Sendable {
    let store: any PacerStore
    let transport: HTTPTransport
    let clock: any RunnerClock
    let options: RunnerOptions
    let logger: Logger
    let slots: InFlightSlots
    let wakeups: WakeBoard
    /// The limit each account's provider last reported (KuCoin's headers), so only a change is written.
    let quotaMemory = QuotaMemory()
    /// Claims of every account, committed together, each commit trimmed to what the runner can send soon.
    let claims: GroupCommit<ClaimRequest, ClaimedBatch>
    let claimBudget: ClaimBudget
    /// Spends of every account, committed together.
    let spends: GroupCommit<SpendRequest, SpendGrant>
    /// The shared pools as last read (with the accounts, every second).
    let sharedPools = SharedPoolBook()
    let completions: CompletionWriter
    let progress: RunProgress
    /// The dashboard's history, written each heartbeat (`flushHistory`), one write at a time.
    let history = HistoryRecorder()
    let historyFlushing = Atomic<Bool>(false)
    /// Called at start and as each minute begins, while running without --drain (the scheduler's tick), with
    /// the wall-clock instant: run as a store call (`io`), so that a silent database cannot hold the runner past
    /// its stop.
    let onTick: (@Sendable (Int64) throws -> Void)?
    let metrics: RunnerMetrics
    /// Every store call the runner waits for, so that it can stop waiting (`StoreCalls`).
    let storeCalls: StoreCalls
    /// When a stop was asked for (monotonic), for the grace the last answers get before the store is given up.
    private let stopAskedAt = Atomic<Int64>(Int64.max)
    private let stopFlag = Atomic<Bool>(false)
    private let current: Mutex<RunnerIdentity>
    /// When a full disk was last reported (monotonic), so it is said every 10 s, not by every worker every second.
    private let lastDiskFullNote = Atomic<Int64>(Int64.min / 2)
    let heartbeatDone = Atomic<Bool>(false)
    /// Rung when the heartbeat may end (`endHeartbeat`), and when the runner stops (`isStopping`).
    let heartbeatBell = Doorbell(), stopBell = Doorbell()
    /// Our latest successful registration or heartbeat: the store's instant, and our monotonic instant read just
    /// before the store read its clock. `maySend` measures the beat's age on the monotonic clock; `storeNow`
    /// follows the store's clock from it.
    private let beat = Mutex<(at: Int64, mark: Int64)>((0, 0))
    /// The store's clock where it can be read here (`PacerStore.localClock`), taken once: `storeNow` is on the
    /// answer path.
    private let localStoreClock: (@Sendable () -> Int64)?
    private let watch: Mutex<HeartbeatWatch>

    public init(store: any PacerStore, transport: HTTPTransport, options: RunnerOptions,
                clock: any RunnerClock = SystemRunnerClock(), logger: Logger = Logger(label: "pacer.run"),
                metrics: RunnerMetrics = RunnerMetrics(), onTick: (@Sendable (Int64) throws -> Void)? = nil) {
        self.onTick = onTick
        self.metrics = metrics
        self.store = store
        localStoreClock = store.localClock
        self.transport = transport
        self.options = options
        self.clock = clock
        wakeups = WakeBoard(clock: clock)
        storeCalls = StoreCalls(clock: clock)
        self.logger = logger
        current = Mutex(Self.newIdentity())
        // Our looks come once per heartbeat; a gap of more than two and a half of them breaks the observation.
        watch = Mutex(HeartbeatWatch(staleAfterMilliseconds: options.staleAfterMilliseconds,
                                     maxLookGapMilliseconds: options.heartbeatMilliseconds * 5 / 2))
        slots = InFlightSlots(options.concurrency)
        let calls = storeCalls
        completions = CompletionWriter { batch in try await calls.run { try store.complete(batch) } }
        progress = RunProgress()
        let lease = options.leaseMilliseconds
        let budget = ClaimBudget(concurrency: options.concurrency)
        claimBudget = budget
        claims = GroupCommit { requests, runnerID in
            let trimmed = budget.trim(requests)
            return try await calls.run {
                let now = clock.now()
                return try store.claim(trimmed, runner: runnerID, nowMilliseconds: now, leaseUntil: now + lease)
            }
        }
        spends = GroupCommit { requests, runnerID in
            try await calls.run { try store.spend(requests, runner: runnerID, now: clock.now) }
        }
    }

    static func newIdentity() -> RunnerIdentity {
        let pid = ProcessInfo.processInfo.processIdentifier
        return RunnerIdentity(id: "\(localHost):\(pid):\(UUID().uuidString.prefix(8))", host: localHost, pid: pid)
    }

    /// This host as far as process ids mean anything: the host name, this boot of the kernel and the pid
    /// namespace, so two machines or containers that share a host name (and the database) never probe each
    /// other's pids.
    public static let localHost: String = {
        let name = ProcessInfo.processInfo.hostName
        let boot = ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines).prefix(8)
        let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? ""
        return [name, String(boot), namespace].filter { !$0.isEmpty }.joined(separator: "#")
    }()

    /// Whether `other` is a process on this host (same pid namespace) that no longer exists.
    public static func isGoneLocally(_ other: RunnerIdentity) -> Bool {
        other.host == localHost && kill(other.pid, 0) != 0 && errno == ESRCH
    }

    /// Who this runner is in the database now (a new id after it was declared dead and registered again).
    public var identity: RunnerIdentity { current.withLock { $0 } }

    /// Asks the runner to stop: no new claims; calls in flight finish; undispatched claims go back.
    public func requestStop() {
        _ = stopAskedAt.compareExchange(expected: Int64.max, desired: clock.monotonic(), ordering: .relaxed)
        stopWorkers()
    }

    /// Stops claiming and sending (the run's own end, or a stop asked for).
    private func stopWorkers() {
        stopFlag.store(true, ordering: .relaxed)
        stopBell.ring()
        Task { await wakeups.wakeAll() }
    }
    var isStopping: Bool { stopFlag.load(ordering: .relaxed) }

    /// A store call, off the cooperative pool (see `StoreExecutor`), that the runner can stop waiting for.
    func io<T: Sendable>(_ body: @escaping @Sendable (any PacerStore) throws -> T) async throws -> T {
        let store = self.store
        return try await storeCalls.run { try body(store) }
    }

    /// Whether a request may leave now on behalf of `runnerID`. Another runner declares us dead only after our
    /// heartbeat stood still for `staleAfter` of its time; sending only while our latest heartbeat is younger than
    /// half of that means nothing leaves after we were declared dead, however long this process was paused
    /// between taking the tokens and sending.
    func maySend(as runnerID: String) -> Bool {
        identity.id == runnerID
            && clock.monotonic() - beat.withLock { $0.mark } <= options.staleAfterMilliseconds / 2
    }

    /// Now on the store's clock. With a store that takes the caller's instants, our wall clock; with one whose
    /// clock we can read here (SQLite's host clock, `localClock`), that clock. With one whose clock is elsewhere
    /// (PostgreSQL's server, which runners on other machines see seconds apart from their own), followed on our
    /// monotonic clock from the
    /// store's instant at our latest registration or heartbeat: it errs late (our mark precedes the server's
    /// reading), and a step of our wall clock does not move it. Instants the store hands back (due times, a spend's
    /// retry instant) are compared with it, and answers are written on it (`record`).
    func storeNow() -> Int64 {
        guard store.keepsItsOwnClock else { return clock.now() }
        if let local = localStoreClock { return local() } // SQLite's: read as exactly as the store reads it
        let last = beat.withLock { $0 }
        return last.at + clock.monotonic() - last.mark
    }

    /// The store's clock minus ours.
    var storeClockOffset: Int64 { storeNow() - clock.now() }

    /// Says so when the store's clock moved against our monotonic clock between two beats by more than a second
    /// beyond what the beats' own durations allow (a step of the PostgreSQL server's clock: SQLite's never
    /// steps). `at` was read between our monotonic `start` and `end`; the last beat's between its mark and
    /// `lastBeatEnded`. Nothing is corrected: docs/postgres.md says what such a step does to the limits.
    func noteStoreClockStep(_ at: Int64, readBetween start: Int64, and end: Int64, lastBeatEnded: Int64) {
        let last = beat.withLock { $0 }
        guard store.keepsItsOwnClock, localStoreClock == nil, last.at != 0 else { return }
        let step = Self.clockStep(at, readBetween: start, and: end, last: last, lastBeatEnded: lastBeatEnded)
        guard abs(step) > 1_000 else { return }
        logger.warning("the database's clock stepped; limits may be off for one window (docs/postgres.md)",
                       metadata: ["step_ms": "\(step)"])
    }

    /// How far the store's clock moved beyond what our monotonic clock allows (0 when within it).
    static func clockStep(_ at: Int64, readBetween start: Int64, and end: Int64, last: (at: Int64, mark: Int64),
                          lastBeatEnded: Int64) -> Int64 {
        let most = last.at + end - last.mark, least = last.at + start - max(lastBeatEnded, last.mark)
        return at > most ? at - most : at < least ? at - least : 0
    }

    /// Notes a registration or heartbeat: the store's instant, and our monotonic mark taken just before it.
    func noteBeat(_ at: Int64, mark: Int64) {
        beat.withLock { $0 = (at, mark) }
    }

    /// Hands an answer to the completion writer, its instants moved onto the store's clock once, now (a batch
    /// written again later keeps them).
    func record(_ completion: Completion) async {
        var c = completion
        if store.keepsItsOwnClock {
            let shift = storeNow() - c.finishedAt
            c.startedAt += shift
            c.finishedAt += shift
            if c.nextAttemptAt > 0 { c.nextAttemptAt += shift }
        }
        await completions.add(c)
    }

    /// Called when the store refuses `oldID` as declared dead: registers a fresh identity (once, however many
    /// workers notice at the same time). The old id's claims already went back to the queue.
    func reregister(after oldID: String) async throws {
        guard identity.id == oldID else { return }
        let fresh = Self.newIdentity()
        let clock = self.clock
        let mark = clock.monotonic() // before the transaction: a lower bound on the registration's instant
        let at = try await io { try $0.registerRunner(fresh, now: clock.now) }
        let published = current.withLock { identity -> Bool in
            guard identity.id == oldID else { return false }
            identity = fresh
            return true
        }
        guard published else {
            try await io { try $0.unregisterRunner(fresh.id) } // another worker registered first
            return
        }
        noteBeat(at, mark: mark)
        logger.warning("this runner was declared dead by another (paused or blocked longer than the stale threshold); its calls went back to the queue; registered again", metadata: [
                        "old": "\(oldID)", "new": "\(fresh.id)"])
    }

    /// The last answer is written: the heartbeat loop ends now, not at its next beat.
    func endHeartbeat() {
        heartbeatDone.store(true, ordering: .relaxed)
        heartbeatBell.ring()
    }

    /// Sleeps, waking early if a stop is requested.
    func pause(milliseconds: Int64) async throws {
        try await pause(milliseconds: milliseconds, bells: [stopBell]) { self.isStopping }
    }

    /// Sleeps for `milliseconds` (monotonic), or less when `interrupted` says so after one of `bells` rang (each
    /// thing that can interrupt a pause rings a bell when it happens).
    func pause(milliseconds: Int64, bells: [Doorbell], interrupted: () -> Bool) async throws {
        let until = clock.monotonic() + milliseconds
        while true {
            // A cancelled task's bell waits return at once: without this it would go round until its time is up.
            try Task.checkCancellation()
            let seen = bells.map(\.rings)
            let left = until - clock.monotonic()
            guard !interrupted(), left > 0 else { return }
            try await withThrowingTaskGroup(of: Void.self) { [clock] group in
                group.addTask { try await clock.sleep(milliseconds: left) }
                for (bell, rings) in zip(bells, seen) { group.addTask { await bell.wait(since: rings) } }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// Logs a store error that is being retried. A full disk meets every worker at once: it is said once every
    /// 10 s, plainly, with the answers waiting in memory; other errors are logged as they come.
    func noteStoreError(_ error: any Error, account: String? = nil) async {
        if let store = error as? StoreError, store.kind == .diskFull {
            let now = clock.monotonic()
            let last = lastDiskFullNote.load(ordering: .relaxed)
            guard now - last >= 10_000, lastDiskFullNote.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
            else { return }
            let waiting = await completions.waiting
            logger.error("\(store.message); nothing is claimed or sent until then, answers received are kept",
                         metadata: ["answers_waiting": "\(waiting)"])
            return
        }
        var metadata: Logger.Metadata = ["error": "\(error)"]
        if let account { metadata["account"] = "\(account)" }
        logger.error("store error; retrying", metadata: metadata)
    }

    /// Tries (a second apart) to write the last answers at exit: a failing database, and a full disk.
    static let finalFlushTries = 30
    static let finalFlushDiskFullTries = 600

    /// How long the main loop retries a failing database before giving up.
    static let giveUpAfterMilliseconds: Int64 = 120_000

    public struct Summary: Sendable {
        /// Unfinished calls of paused accounts, and why each account is paused.
        public var held: [String: (calls: Int, reason: String)]
        public var finished: Int
        /// The calls this process ended, by final state.
        public var ended: [CallState: Int] = [:]
        /// Per account: the provider's rate-limit refusals this process answered (each cooled the account down),
        /// and the orders it looked up by key instead of placing again.
        public var coolDowns: [String: Int] = [:]
        public var lookups: [String: Int] = [:]
        public var stoppedEarly: Bool
    }

    /// Registers, serves every account until drained, stopped or out of time, writes the last answers and
    /// unregisters. Throws when the database kept failing or answers could not be written.
    public func run() async throws -> Summary {
        let deadline = options.maxSeconds.map { clock.monotonic() + Int64($0 * 1000) }
        try await register(until: deadline)
        _ = try? await recover()
        // The dashboard never shows more than a day of the limiter's history: older rows go at each run's start.
        let dayAgo = storeNow() - historyReachMilliseconds
        _ = try? await io { try $0.trimHistory(before: dayAgo) }
        // The heartbeat runs beside the workers until this runner has written its last answer and unregistered:
        // while requests are still in flight after a stop, other runners must keep seeing it alive.
        let heartbeat = Task { await self.heartbeatLoop() }
        let watchdog = Task { await self.giveUpOnTheStore(deadline: deadline) }
        let served = await serve(until: deadline)
        let unwritten = await writeLastAnswers()
        endHeartbeat()
        await heartbeat.value
        defer { watchdog.cancel() }
        return try await finish(served, unwritten: unwritten)
    }

    /// How long past `--max-seconds` or a stop request the runner still waits for a store call that does not
    /// answer.
    static let storeGraceMilliseconds: Int64 = 10_000

    /// Once the run is over time, or a stop was asked for (a signal), by the grace: stops waiting for the store
    /// calls that have gone unanswered all that time. A database across a network that went silent (a partition)
    /// must not keep the runner past `--max-seconds` or a signal. The answers not written are reported
    /// (`finish`); their calls go to recovery. (A local database always answers, within its busy timeout:
    /// SQLite's calls are never given up.) A run that ends because its work is done never gives up.
    private func giveUpOnTheStore(deadline: Int64?) async {
        guard store.isAcrossANetwork else { return }
        while !Task.isCancelled {
            let now = clock.monotonic(), asked = stopAskedAt.load(ordering: .relaxed)
            let from = min(deadline ?? Int64.max, asked)
            if from != Int64.max, now >= from + Self.storeGraceMilliseconds {
                storeCalls.abandon(waitingSince: now - Self.storeGraceMilliseconds, """
                    no answer for \(Self.storeGraceMilliseconds / 1_000) s after \(asked <= (deadline ?? Int64.max) ? "the stop" : "--max-seconds")
                    """)
            }
            try? await clock.sleep(milliseconds: 100)
        }
    }

    /// Registers this runner. Started on a full disk, it waits for space (or a stop, or the deadline) rather than
    /// fail, as the main loop does.
    func register(until deadline: Int64?) async throws {
        let me = identity, clock = self.clock
        while true {
            let mark = clock.monotonic() // before the transaction: a lower bound on the registration's instant
            do {
                let at = try await io { try $0.registerRunner(me, now: clock.now) }
                noteBeat(at, mark: mark)
                return
            } catch let error as StoreError where error.kind == .diskFull && !isStopping
                        && deadline.map({ clock.monotonic() < $0 }) ?? true {
                await noteStoreError(error)
                try? await clock.sleep(milliseconds: 1_000)
            }
        }
    }

    /// What the main loop keeps from one turn to the next.
    private struct LoopState {
        /// The accounts with a worker, and the settings each worker reads.
        var workers: [String: AccountSettings] = [:]
        var lastTickMinute: Int64?
        /// Since when the database has failed (monotonic), while it does.
        var failingSince: Int64?
        var accountsReadAt: Int64?
        var watch: (any WorkWatch)?
        var watchTriedAt: Int64?
        var nextDueLook = Int64.min
        /// Accounts with calls due at the last look: when one of their workers is idle (a busy one done, or a
        /// woken one whose claim found the calls taken by another runner), look again.
        var dueAtLastLook = Set<String>()
    }

    /// How the main loop ended.
    struct Served {
        var stoppedEarly = false
        var failure: (any Error)?
    }

    /// The main loop: one turn every poll interval until drained, stopped or out of time. Workers never throw; a
    /// store error in a turn is logged and retried, so one busy moment cannot end the run.
    private func serve(until deadline: Int64?) async -> Served {
        var served = Served()
        // A discarding group: finished workers are not kept until someone collects them.
        await withDiscardingTaskGroup { group in
            var state = LoopState()
            while true {
                await tick(&state)
                if isStopping || deadline.map({ clock.monotonic() >= $0 }) == true { served.stoppedEarly = true; break }
                do {
                    guard try await turn(&state, group: &group) else { break }
                    state.failingSince = nil
                    try await clock.sleep(milliseconds: options.pollMilliseconds)
                } catch {
                    if let failure = await keepsFailing(error, &state) {
                        served.failure = failure
                        break
                    }
                    try? await clock.sleep(milliseconds: 1_000)
                }
            }
            if let watch = state.watch { _ = try? await storeCalls.run { watch.stop() } }
            stopWorkers()
        }
        return served
    }

    /// Schedule ticks are whole minutes of wall time: once at start, then once as each new minute begins. A
    /// schedule's failure is the scheduler's to report; it never stops the runner.
    private func tick(_ state: inout LoopState) async {
        guard !options.drain, let onTick, clock.now() / 60_000 != state.lastTickMinute else { return }
        let now = clock.now()
        state.lastTickMinute = now / 60_000
        do { try await io { _ in try onTick(now) } } catch {
            logger.error("schedule tick failed", metadata: ["error": "\(error)"])
        }
    }

    /// One turn: writes the answers waiting, starts workers for new accounts, ends a drained `--drain`, wakes the
    /// idle workers whose calls fell due, reports progress. Returns false when the run is drained.
    private func turn(_ state: inout LoopState, group: inout DiscardingTaskGroup) async throws -> Bool {
        try await completions.flush()
        try await startWorkers(&state, group: &group)
        if options.drain, try await !io({ [options] in try $0.hasWork(accounts: options.accounts) }) { return false }
        try await wakeIdleWorkers(&state)
        if let depths = await progress.report(snapshot: { try await self.io { [options] in try $0.snapshot(accounts: options.accounts) } },
                                              now: clock.now(), logger: logger) {
            for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
        }
        return true
    }

    /// Reads the accounts (every `accountsRefresh`, a second by default): starts a worker for each active one
    /// without one, and hands every running worker its account's current settings (a new limit, base URL or
    /// secret; a removal ends the worker). An account whose secret this process cannot read is paused (visible
    /// in `status`) rather than burn its queue on refusals; `account resume` makes it eligible again.
    private func startWorkers(_ state: inout LoopState, group: inout DiscardingTaskGroup) async throws {
        guard state.accountsReadAt.map({ clock.monotonic() - $0 >= options.accountsRefreshMilliseconds }) ?? true else { return }
        let accounts = try await io({ try $0.accounts() })
        try await refreshSharedPools()
        state.accountsReadAt = clock.monotonic()
        for account in accounts where options.accounts?.contains(account.name) ?? true {
            for pool in account.limits.pools {
                for window in pool.windows {
                    metrics.poolLimit(account: account.name, pool: PoolKey.display(pool.name),
                                      window: DurationText.format(milliseconds: window.windowMilliseconds), count: window.count)
                }
            }
        }
        /// Ends an account's worker: it gives back what it holds; an idle one ends now, not at its backstop.
        func retire(_ name: String) async {
            state.workers.removeValue(forKey: name)?.remove()
            await wakeups.wake(name)
        }
        let present = Set(accounts.map(\.name))
        for name in state.workers.keys where !present.contains(name) { await retire(name) }
        for account in accounts where options.accounts?.contains(account.name) ?? true {
            // Another provider: the old worker ends (its calls in flight are judged by the provider they went to)
            // and a new one starts.
            if let settings = state.workers[account.name], settings.account.provider != account.provider {
                await retire(account.name)
            }
            do {
                if let settings = state.workers[account.name] {
                    if try settings.update(to: account, resolve: { try CredentialResolver.resolve($0) }) {
                        await wakeups.wake(account.name) // held for fresh credentials: they are in
                    }
                } else if account.pausedReason == nil {
                    let settings = AccountSettings(account, credentials: try CredentialResolver.resolve(account))
                    state.workers[account.name] = settings
                    let worker = AccountWorker(settings: settings, runner: self)
                    group.addTask { await worker.run() }
                }
            } catch {
                let reason = "\(error)", now = clock.now()
                _ = try await io { try $0.pauseAccount(account.name, reason: reason, nowMilliseconds: now) }
                logger.error("account paused", metadata: ["account": "\(account.name)", "reason": "\(error)"])
            }
        }
    }

    /// Wakes the idle workers whose accounts have calls due (one read for every account). With a store that
    /// signals new work, the read is made only when signalled, when a due instant it already knows of has come,
    /// when a worker whose account had calls due at the last read is idle, or at a backstop; otherwise every turn.
    /// (It used to read every turn while any account with calls due had a busy worker: in a busy runner, always.)
    private func wakeIdleWorkers(_ state: inout LoopState) async throws {
        let idle = await wakeups.idleAccounts
        guard !idle.isEmpty else { return }
        let now = storeNow()
        state.watch = await renewedWatch(state.watch, now: now, lastTry: &state.watchTriedAt)
        let signalled = workSignalled.exchange(false, ordering: .relaxed)
        guard state.watch?.isWatching != true || signalled || now >= state.nextDueLook
                || !idle.isDisjoint(with: state.dueAtLastLook) else { return }
        let due = try await io({ try $0.nextDue() })
        state.dueAtLastLook = []
        for (account, at) in due where at <= now && state.workers[account] != nil {
            state.dueAtLastLook.insert(account)
            if idle.contains(account) { await wakeups.wake(account) }
        }
        state.nextDueLook = min(now + options.notifiedBackstopMilliseconds,
                                due.values.filter { $0 > now }.min() ?? Int64.max)
    }

    /// A busy database passes; one that keeps failing (read-only, corrupt) ends the run rather than leave a
    /// cron-launched `--drain` retrying forever: returns the error then. A full disk is the exception: nothing is
    /// claimed or sent meanwhile (every claim and spend is a write), the answers already received are kept in
    /// memory, and the run goes on once space is freed (or ends at --max-seconds or a signal).
    private func keepsFailing(_ error: any Error, _ state: inout LoopState) async -> (any Error)? {
        let diskFull = (error as? StoreError)?.kind == .diskFull
        let since = diskFull ? nil : state.failingSince ?? clock.monotonic()
        state.failingSince = since
        if let since, clock.monotonic() - since >= Self.giveUpAfterMilliseconds {
            logger.error("the database keeps failing; stopping", metadata: ["error": "\(error)"])
            return error
        }
        await noteStoreError(error)
        return nil
    }

    /// Every worker has ended and every send has handed in its answer: writes them all before leaving, trying
    /// again (while the heartbeat keeps our leases) rather than dropping answers already received. On a full disk
    /// the answers wait longer (10 minutes) for space: they cannot be asked for again. Returns the last error
    /// when some could not be written.
    private func writeLastAnswers() async -> (any Error)? {
        var attempt = 0
        while true {
            do {
                try await completions.flush()
                return nil
            } catch {
                attempt += 1
                let diskFull = (error as? StoreError)?.kind == .diskFull
                if storeCalls.abandoned != nil || attempt >= (diskFull ? Self.finalFlushDiskFullTries : Self.finalFlushTries) {
                    return error
                }
                if diskFull {
                    await noteStoreError(error)
                } else {
                    logger.error("cannot write answers yet; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                }
                try? await clock.sleep(milliseconds: 1_000)
            }
        }
    }

    /// Unregisters and sums up. With answers unwritten, keeps the registration (without a heartbeat we are found
    /// dead and our calls recovered as abandoned) and says what the provider answered, so a person can reconcile
    /// by hand.
    private func finish(_ served: Served, unwritten: (any Error)?) async throws -> Summary {
        let id = identity.id
        if let unwritten {
            for c in await completions.unwritten {
                logger.error("answer not recorded", metadata: [
                    "call": "\(c.call)", "state": "\(c.state.rawValue)", "http_status": "\(c.httpStatus.map(String.init) ?? "-")",
                    "code": "\(c.code ?? "-")", "classification": "\(c.classification)"])
            }
            throw unwritten
        }
        if let failure = served.failure {
            _ = try? await io { try $0.unregisterRunner(id) }
            throw failure
        }
        // The last counts, tried a few times: after this nobody writes them.
        for _ in 0..<3 where await !flushHistory() { try? await Task.sleep(for: .milliseconds(100)) }
        try await io { try $0.unregisterRunner(id) }
        let snapshot = try await io { [options] in try $0.snapshot(accounts: options.accounts) }
        var held: [String: (calls: Int, reason: String)] = [:]
        for (account, reason) in snapshot.paused {
            if let n = snapshot.unfinished[account], n > 0 { held[account] = (n, reason) }
        }
        if let depths = await progress.report(snapshot: { snapshot }, now: clock.now(), logger: logger, final: true) {
            for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
        }
        let counts = progress.counts
        return Summary(held: held, finished: await completions.written, ended: await completions.ended,
                       coolDowns: counts.coolDowns, lookups: counts.lookups, stoppedEarly: served.stoppedEarly)
    }

    /// Renews our heartbeat and leases every second, re-registers if we were declared dead, and recovers the
    /// calls of runners that died. A failed beat (the database busy past its timeout) is logged and tried again:
    /// meanwhile `maySend` holds every request back. Runs until `run()` has written its last answer.
    func heartbeatLoop() async {
        var lastBeatEnded = clock.monotonic()
        while !heartbeatDone.load(ordering: .relaxed) {
            do {
                // Not `pause(milliseconds:)`: the heartbeat outlives a stop request, until the last answer is written.
                try await pause(milliseconds: options.heartbeatMilliseconds, bells: [heartbeatBell]) {
                    self.heartbeatDone.load(ordering: .relaxed)
                }
                if heartbeatDone.load(ordering: .relaxed) { return }
                let id = identity.id
                let clock = self.clock, lease = options.leaseMilliseconds
                // The beat's monotonic instant is read inside the transaction, with its wall-clock stamp: a pause
                // between the commit and our resuming must not make an old beat look fresh.
                let beat = try await io { store in
                    var mark: Int64 = 0
                    let at = try store.heartbeat(runner: id, now: { mark = clock.monotonic(); return clock.now() },
                                                 leaseMilliseconds: lease)
                    return at.map { ($0, mark) }
                }
                guard let (at, mark) = beat else {
                    try await reregister(after: id)
                    lastBeatEnded = clock.monotonic() // the registration's instant was read before this
                    continue
                }
                noteStoreClockStep(at, readBetween: mark, and: clock.monotonic(), lastBeatEnded: lastBeatEnded)
                noteBeat(at, mark: mark)
                lastBeatEnded = clock.monotonic()
                // The dashboard's counts, off the heartbeat's path: a slow write must not age the beat.
                if historyFlushing.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
                    Task { await self.flushHistory(); self.historyFlushing.store(false, ordering: .relaxed) }
                }
                let recovered = try await recover()
                await completions.noteEnded([.uncertain: recovered.uncertain, .dead: recovered.dead].filter { $0.value > 0 })
                if recovered.requeued + recovered.uncertain + recovered.dead > 0 {
                    logger.notice("recovered calls of stopped runners", metadata: [
                        "requeued": "\(recovered.requeued)", "uncertain": "\(recovered.uncertain)",
                        "dead": "\(recovered.dead)", "runners": "\(recovered.deadRunners.joined(separator: ","))"])
                }
            } catch is CancellationError {
                return
            } catch let error as StoreError where error.kind == .diskFull {
                await noteStoreError(error)
            } catch {
                logger.error("heartbeat failed; retrying", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Writes the history counted since the last flush; on failure keeps it for the next one (it is only the
    /// dashboard's: a runner never waits on it).
    /// Returns whether nothing is left to write.
    @discardableResult
    func flushHistory() async -> Bool {
        let buckets = history.take()
        guard !buckets.isEmpty else { return true }
        do {
            try await io { try $0.addHistory(buckets) }
            return true
        } catch {
            history.putBack(buckets)
            logger.debug("cannot write the limiter's history yet", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Dead runners: on this host, a process that no longer exists; anywhere, a heartbeat that stood still over
    /// our own looks for the stale threshold (`HeartbeatWatch`).
    func recover() async throws -> Recovery {
        let me = identity
        let clock = self.clock
        return try await io { [self] store in
            var seen = Set<String>()
            var looked = false
            let recovery = try store.recoverAbandoned(now: clock.now) { record, _ in
                // Our own looks are timed on the monotonic clock, read here inside the transaction.
                let now = clock.monotonic()
                if !looked {
                    looked = true
                    watch.withLock { $0.beginLook(now: now) }
                }
                let other = record.identity
                guard other.id != me.id else { return false }
                seen.insert(other.id)
                if Self.isGoneLocally(other) { return true }
                return watch.withLock { $0.isDead(other.id, heartbeat: record.heartbeatAt, now: now) }
            }
            // A recovery that did not look (another runner was recovering) keeps what we observed so far.
            if looked {
                let alive = seen.subtracting(recovery.deadRunners)
                watch.withLock { $0.keepOnly(alive) }
                otherRunners.store(alive.count, ordering: .relaxed)
            }
            return recovery
        }
    }

    /// How many other runners were registered at the last recovery (each second): the runners sharing the
    /// accounts' windows, so that each claims its share of a window (see `AccountWorker.claimSize`).
    private let otherRunners = Atomic<Int>(0)
    var runnersSharing: Int { 1 + otherRunners.load(ordering: .relaxed) }

    /// Set when the store signals new work (see `WorkNotifying`).
    private let workSignalled = Atomic<Bool>(false)

    /// The store's work signal, opened (or opened again after its connection was lost) at most every 10 s.
    /// Connecting and closing block: they run off the cooperative pool, as store calls do.
    private func renewedWatch(_ watch: (any WorkWatch)?, now: Int64, lastTry: inout Int64?) async -> (any WorkWatch)? {
        guard let notifying = store as? any WorkNotifying, notifying.canWatchForWork else { return nil }
        if let watch, watch.isWatching { return watch }
        if let last = lastTry, now - last < 10_000 { return watch }
        lastTry = now
        if let watch { _ = try? await storeCalls.run { watch.stop() } }
        do {
            return try await storeCalls.run {
                try notifying.watchForWork { [weak self] in self?.workSignalled.store(true, ordering: .relaxed) }
            }
        } catch {
            logger.warning("cannot watch for new work; looking every turn instead", metadata: ["error": "\(error)"])
            return nil
        }
    }

    func noteWait(account: String) { metrics.limiterWait(account: account) }
    func noteLookup(account: String) { progress.noteLookup(account: account) }
    func noteRateLimit(account: String) {
        progress.noteRateLimit(account: account)
        metrics.coolDown(account: account)
    }
    func noteFinished(account: String, state: CallState) {
        progress.noteFinished(account: account, state: state)
        if state.isTerminal { metrics.finished(account: account, outcome: state.rawValue) }
    }
    func noteSent(account: String, latencyMilliseconds: Int64) {
        claimBudget.noteAnswer(milliseconds: latencyMilliseconds)
        metrics.sent(account: account)
        metrics.latency(account: account, milliseconds: latencyMilliseconds)
    }
}
