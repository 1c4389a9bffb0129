import Foundation
import Logging
import PacerCore
import PacerProviders
import PacerStore
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
    let completions: CompletionWriter
    let progress: RunProgress
    /// Called at start and as each minute begins, while running without --drain (the scheduler's tick).
    let onTick: (@Sendable (Int64) async throws -> Void)?
    let metrics: RunnerMetrics
    private let stopFlag = Atomic<Bool>(false)
    private let current: Mutex<RunnerIdentity>
    /// The instant of our latest successful heartbeat (or registration), in our clock.
    private let lastHeartbeat = Atomic<Int64>(0)
    private let watch: Mutex<HeartbeatWatch>

    public init(store: any PacerStore, transport: HTTPTransport, options: RunnerOptions,
                clock: any RunnerClock = SystemRunnerClock(), logger: Logger = Logger(label: "pacer.run"),
                metrics: RunnerMetrics = RunnerMetrics(), onTick: (@Sendable (Int64) async throws -> Void)? = nil) {
        self.onTick = onTick
        self.metrics = metrics
        self.store = store
        self.transport = transport
        self.options = options
        self.clock = clock
        self.logger = logger
        current = Mutex(Self.newIdentity())
        watch = Mutex(HeartbeatWatch(staleAfterMilliseconds: options.staleAfterMilliseconds))
        slots = InFlightSlots(options.concurrency)
        completions = CompletionWriter { batch in try await StoreExecutor.run { try store.complete(batch) } }
        progress = RunProgress()
    }

    static func newIdentity() -> RunnerIdentity {
        let pid = ProcessInfo.processInfo.processIdentifier
        let host = ProcessInfo.processInfo.hostName
        return RunnerIdentity(id: "\(host):\(pid):\(UUID().uuidString.prefix(8))", host: host, pid: pid)
    }

    /// Who this runner is in the database now (a new id after it was declared dead and registered again).
    public var identity: RunnerIdentity { current.withLock { $0 } }

    /// Asks the runner to stop: no new claims; calls in flight finish; undispatched claims go back.
    public func requestStop() { stopFlag.store(true, ordering: .relaxed) }
    var isStopping: Bool { stopFlag.load(ordering: .relaxed) }

    /// A store call, off the cooperative pool (see `StoreExecutor`).
    func io<T: Sendable>(_ body: @escaping @Sendable (any PacerStore) throws -> T) async throws -> T {
        let store = self.store
        return try await StoreExecutor.run { try body(store) }
    }

    /// Whether a request may leave now on behalf of `runnerID`. Another runner declares us dead only after our
    /// heartbeat stood still for `staleAfter` of its time; sending only while our latest heartbeat is younger than
    /// half of that means nothing leaves after we were declared dead, however long this process was paused
    /// between taking the tokens and sending.
    func maySend(as runnerID: String) -> Bool {
        identity.id == runnerID
            && clock.now() - lastHeartbeat.load(ordering: .relaxed) <= options.staleAfterMilliseconds / 2
    }

    /// Called when the store refuses `oldID` as declared dead: registers a fresh identity (once, however many
    /// workers notice at the same time). The old id's claims already went back to the queue.
    func reregister(after oldID: String) async throws {
        guard identity.id == oldID else { return }
        let fresh = Self.newIdentity()
        let clock = self.clock
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
        lastHeartbeat.store(at, ordering: .relaxed)
        logger.warning("this runner was declared dead by another (paused or blocked longer than the stale threshold); its calls went back to the queue; registered again", metadata: [
                        "old": "\(oldID)", "new": "\(fresh.id)"])
    }

    /// Sleeps, waking early if a stop is requested.
    func pause(milliseconds: Int64) async throws {
        let until = clock.now() + milliseconds
        while !isStopping, clock.now() < until {
            try await clock.sleep(until: min(until, clock.now() + 20))
        }
    }

    public struct Summary: Sendable {
        /// Unfinished calls of paused accounts, and why each account is paused.
        public var held: [String: (calls: Int, reason: String)]
        public var finished: Int
        public var stoppedEarly: Bool
    }

    public func run() async throws -> Summary {
        let start = clock.now()
        let me = identity
        let clock = self.clock
        lastHeartbeat.store(try await io { try $0.registerRunner(me, now: clock.now) }, ordering: .relaxed)
        _ = try await recover()
        let deadline = options.maxSeconds.map { start + Int64($0 * 1000) }
        var stoppedEarly = false
        do {
            // The heartbeat runs beside the workers and is cancelled (not waited for) when they are done.
            let heartbeat = Task { await self.heartbeatLoop() }
            defer { heartbeat.cancel() }
            // A discarding group: finished workers are not kept until someone collects them.
            try await withThrowingDiscardingTaskGroup { group in
                var workers = Set<String>()
                var lastTickMinute: Int64?
                let accountFilter = options.accounts
                while true {
                    // Schedule ticks are whole minutes: once at start, then once as each new minute begins.
                    if !options.drain, let onTick, clock.now() / 60_000 != lastTickMinute {
                        let now = clock.now()
                        lastTickMinute = now / 60_000
                        // A schedule's failure is the scheduler's to report; it never stops the runner.
                        do { try await onTick(now) } catch {
                            logger.error("schedule tick failed", metadata: ["error": "\(error)"])
                        }
                    }
                    if isStopping { stoppedEarly = true; break }
                    if let deadline, clock.now() >= deadline { stoppedEarly = true; break }
                    try await completions.flush()
                    for account in try await io({ try $0.accounts() }) where account.pausedReason == nil
                        && (accountFilter?.contains(account.name) ?? true) && !workers.contains(account.name) {
                        do {
                            let credentials = try CredentialResolver.resolve(account)
                            let worker = AccountWorker(account: account, credentials: credentials, runner: self)
                            workers.insert(account.name)
                            group.addTask { try await worker.run() }
                        } catch {
                            // A secret this process cannot read: hold the account (visible in `status`) rather
                            // than burn its queue on refusals. `account resume` makes it eligible again.
                            let reason = "\(error)"
                            _ = try await io { try $0.pauseAccount(account.name, reason: reason, nowMilliseconds: clock.now()) }
                            logger.error("account paused", metadata: ["account": "\(account.name)", "reason": "\(error)"])
                        }
                    }
                    if options.drain, try await io({ try $0.snapshot(accounts: accountFilter) }).workable == 0 { break }
                    if let depths = await progress.report(snapshot: { try await self.io { try $0.snapshot(accounts: accountFilter) } },
                                                          now: clock.now(), logger: logger) {
                        for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
                    }
                    try await clock.sleep(until: clock.now() + options.pollMilliseconds)
                }
                requestStop()
            }
        } catch {
            requestStop()
            try? await completions.flush()
            let id = identity.id
            _ = try? await io { try $0.unregisterRunner(id) }
            throw error
        }
        try await completions.flush()
        let id = identity.id
        try await io { try $0.unregisterRunner(id) }
        let snapshot = try await io { [options] in try $0.snapshot(accounts: options.accounts) }
        var held: [String: (calls: Int, reason: String)] = [:]
        for (account, reason) in snapshot.paused {
            if let n = snapshot.unfinished[account], n > 0 { held[account] = (n, reason) }
        }
        if let depths = await progress.report(snapshot: { snapshot }, now: clock.now(), logger: logger, final: true) {
            for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
        }
        return Summary(held: held, finished: await completions.written, stoppedEarly: stoppedEarly)
    }

    /// Renews our heartbeat and leases every second, re-registers if we were declared dead, and recovers the
    /// calls of runners that died. A failed beat (the database busy past its timeout) is logged and tried again:
    /// meanwhile `maySend` holds every request back.
    private func heartbeatLoop() async {
        while !isStopping {
            do {
                try await pause(milliseconds: options.heartbeatMilliseconds)
                let id = identity.id
                let clock = self.clock, lease = options.leaseMilliseconds
                guard let beat = try await io({ try $0.heartbeat(runner: id, now: clock.now, leaseMilliseconds: lease) }) else {
                    try await reregister(after: id)
                    continue
                }
                lastHeartbeat.store(beat, ordering: .relaxed)
                let recovered = try await recover()
                if recovered.requeued + recovered.uncertain + recovered.dead > 0 {
                    logger.notice("recovered calls of stopped runners", metadata: [
                        "requeued": "\(recovered.requeued)", "uncertain": "\(recovered.uncertain)",
                        "dead": "\(recovered.dead)", "runners": "\(recovered.deadRunners.joined(separator: ","))"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("heartbeat failed; retrying", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Dead runners: on this host, a process that no longer exists; anywhere, a heartbeat that stood still over
    /// our own looks for the stale threshold (`HeartbeatWatch`).
    private func recover() async throws -> Recovery {
        let me = identity
        let clock = self.clock
        return try await io { [self] store in
            var seen = Set<String>()
            let recovery = try store.recoverAbandoned(now: clock.now) { record, now in
                let other = record.identity
                guard other.id != me.id else { return false }
                seen.insert(other.id)
                if other.host == me.host && kill(other.pid, 0) != 0 && errno == ESRCH { return true }
                return watch.withLock { $0.isDead(other.id, heartbeat: record.heartbeatAt, now: now) }
            }
            watch.withLock { $0.keepOnly(seen.subtracting(recovery.deadRunners)) }
            return recovery
        }
    }

    func noteWait(account: String) { metrics.limiterWait(account: account) }
    func noteRateLimit(account: String) {
        progress.noteRateLimit(account: account)
        metrics.coolDown(account: account)
    }
    func noteFinished(account: String, state: CallState) {
        progress.noteFinished(account: account, state: state)
        if state.isTerminal { metrics.finished(account: account, outcome: state.rawValue) }
    }
    func noteSent(account: String, latencyMilliseconds: Int64) {
        metrics.sent(account: account)
        metrics.latency(account: account, milliseconds: latencyMilliseconds)
    }
}
