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
/// from the account's bucket in SQLite, so the limit holds across processes.
public final class Runner: Sendable {
    let store: any PacerStore
    let transport: HTTPTransport
    let clock: any RunnerClock
    let options: RunnerOptions
    public let identity: RunnerIdentity
    let logger: Logger
    let slots: InFlightSlots
    let completions: CompletionWriter
    let progress: RunProgress
    /// Called at start and as each minute begins, while running without --drain (the scheduler's tick).
    let onTick: (@Sendable (Int64) async throws -> Void)?
    let metrics: RunnerMetrics
    private let stopFlag = Atomic<Bool>(false)
    private let activeWorkers = Atomic<Int>(1)

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
        let pid = ProcessInfo.processInfo.processIdentifier
        let host = ProcessInfo.processInfo.hostName
        identity = RunnerIdentity(id: "\(host):\(pid):\(UUID().uuidString.prefix(8))", host: host, pid: pid)
        slots = InFlightSlots(options.concurrency)
        completions = CompletionWriter(store: store)
        progress = RunProgress()
    }

    /// Asks the runner to stop: no new claims; calls in flight finish; undispatched claims go back.
    public func requestStop() { stopFlag.store(true, ordering: .relaxed) }
    var isStopping: Bool { stopFlag.load(ordering: .relaxed) }

    /// A fair share of the in-flight slots for one account, so a slow account cannot hold them all.
    func fairShare() -> Int { max(1, options.concurrency / max(1, activeWorkers.load(ordering: .relaxed))) }

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
        try store.registerRunner(identity, nowMilliseconds: start)
        _ = try recover(now: start)
        let deadline = options.maxSeconds.map { start + Int64($0 * 1000) }
        var stoppedEarly = false
        do {
            // The heartbeat runs beside the workers and is cancelled (not waited for) when they are done.
            let heartbeat = Task { try await self.heartbeatLoop() }
            defer { heartbeat.cancel() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                var workers = Set<String>()
                var lastTickMinute: Int64?
                while true {
                    // Schedule ticks are whole minutes: once at start, then once as each new minute begins.
                    if !options.drain, let onTick, clock.now() / 60_000 != lastTickMinute {
                        let now = clock.now()
                        lastTickMinute = now / 60_000
                        try await onTick(now)
                    }
                    if isStopping { stoppedEarly = true; break }
                    if let deadline, clock.now() >= deadline { stoppedEarly = true; break }
                    try await completions.flush()
                    for account in try store.accounts() where account.pausedReason == nil
                        && (options.accounts?.contains(account.name) ?? true) && !workers.contains(account.name) {
                        workers.insert(account.name)
                        activeWorkers.store(workers.count, ordering: .relaxed)
                        do {
                            let credentials = try CredentialResolver.resolve(account)
                            let worker = AccountWorker(account: account, credentials: credentials, runner: self)
                            group.addTask { try await worker.run() }
                        } catch {
                            // A secret this process cannot read: hold the account (visible in `status`) rather
                            // than burn its queue on refusals.
                            try store.pauseAccount(account.name, reason: "\(error)", nowMilliseconds: clock.now())
                            logger.error("account paused", metadata: ["account": "\(account.name)", "reason": "\(error)"])
                        }
                    }
                    if options.drain, try store.snapshot(accounts: options.accounts).workable == 0 { break }
                    if let depths = progress.report(store: store, accounts: options.accounts, now: clock.now(), logger: logger) {
                        for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
                    }
                    try await clock.sleep(until: clock.now() + options.pollMilliseconds)
                }
                requestStop()
                try await group.waitForAll()
            }
        } catch {
            requestStop()
            try? await completions.flush()
            try? store.unregisterRunner(identity.id)
            throw error
        }
        try await completions.flush()
        try store.unregisterRunner(identity.id)
        let snapshot = try store.snapshot(accounts: options.accounts)
        var held: [String: (calls: Int, reason: String)] = [:]
        for (account, reason) in snapshot.paused {
            if let n = snapshot.unfinished[account], n > 0 { held[account] = (n, reason) }
        }
        if let depths = progress.report(store: store, accounts: options.accounts, now: clock.now(), logger: logger, final: true) {
            for (account, calls) in depths { metrics.queueDepth(account: account, calls: calls) }
        }
        return Summary(held: held, finished: await completions.written, stoppedEarly: stoppedEarly)
    }

    private func heartbeatLoop() async throws {
        while !isStopping {
            try await pause(milliseconds: options.heartbeatMilliseconds)
            let now = clock.now()
            try store.heartbeat(runner: identity.id, nowMilliseconds: now, leaseUntil: now + options.leaseMilliseconds)
            let recovered = try recover(now: now)
            if recovered.requeued + recovered.uncertain > 0 {
                logger.notice("recovered calls of stopped runners", metadata: [
                    "requeued": "\(recovered.requeued)", "uncertain": "\(recovered.uncertain)",
                    "runners": "\(recovered.deadRunners.joined(separator: ","))"])
            }
        }
    }

    /// Dead runners: a heartbeat older than `staleAfter`, or (on this host) a process that no longer exists.
    private func recover(now: Int64) throws -> Recovery {
        let host = identity.host
        return try store.recoverAbandoned(nowMilliseconds: now, staleBefore: now - options.staleAfterMilliseconds) {
            $0.id != identity.id && $0.host == host && kill($0.pid, 0) != 0 && errno == ESRCH
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
