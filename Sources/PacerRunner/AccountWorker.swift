import Foundation
import Logging
import PacerCore
import PacerProviders
import PacerStorage
import Synchronization
import PacerLimits

/// Drives one account: claims its due calls, spends the shared limiter's tokens for them (the next share while
/// the current requests travel), signs each right before it leaves, sends, classifies, and hands the outcome to
/// the completion writer.
struct AccountWorker: Sendable {
    /// The account's settings, kept current by the runner's loop (`AccountSettings`).
    let settings: AccountSettings
    let runner: Runner
    /// The provider's pools kept once per endpoint, read once: a worker keeps its provider (another provider
    /// means another worker).
    let perEndpointPools: Set<String>

    init(settings: AccountSettings, runner: Runner) {
        self.settings = settings
        self.runner = runner
        perEndpointPools = settings.account.provider.api.endpoints.perEndpointPools
    }
    /// Counts what this worker's answers taught about each pool's pace (a refusal, a quota the provider stated
    /// anew). A call spent before such news of one of its pools and not sent yet goes back untried instead of
    /// leaving; calls of other pools go on.
    let paceNews = PaceNews()
    /// How much of this worker's calls the provider lately accepted in one window, per pool: a refusal below that
    /// is noise.
    let acceptedPeak = AcceptedPeakBox()
    /// Counts the answers to this worker's cool-down probes: a worker waiting out a cool-down wakes at each, since
    /// an accepted probe ends it.
    let probeAnswers = PaceNews()

    var account: Account { settings.account }
    var credentials: Credentials { settings.credentials }
    var clock: any RunnerClock { runner.clock }
    var api: any ProviderAPI { account.provider.api }
    /// Calls claimed at a time: about this runner's share of one window. Claimed calls wait in memory for their
    /// tokens, and a retry that falls due meanwhile (claimed first from the store) must not queue behind several
    /// windows of them, here or in another process. The runners registered may serve other accounts (`--account`,
    /// `pacer call`), so the share never goes below a few calls (or the window's count): a claim per call would
    /// cost a write transaction per call.
    var claimSize: Int {
        let count = account.limit.count
        let share = (count + runner.runnersSharing - 1) / runner.runnersSharing
        return max(1, min(runner.options.claimBatch, max(share, min(count, Self.smallestShare))))
    }
    static let smallestShare = 4
    /// The provider's window plus the safety margin: how long a spent token stays spent (the primary limit's).
    var window: Int64 { account.limit.bucketWindowMilliseconds(margin: runner.options.marginMilliseconds) }

    /// Calls of this account may wait for different pools (several own pools, pools kept per endpoint, shared
    /// pools): while some wait, others may go (`WorkerQueue.Step.claimOthers`).
    var hasSeveralPools: Bool {
        let limits = account.limits
        return limits.pools.count > 1 || !limits.shared.isEmpty
            || limits.pools.contains { perEndpointPools.contains($0.name) }
    }

    /// The pools a call draws from, with the account's and the shared pools as they are now (docs/pools.md);
    /// the first is the one a refusal or a stated quota concerns.
    func draws(_ demand: PoolDemand) -> [PoolDraw] {
        account.limits.draws(account: account.name, demand: demand, sharedPools: runner.sharedPools.current).draws
    }

    /// A pool's windows as the limiter holds them: each plus the safety margin.
    func windows(_ draw: PoolDraw) -> PoolWindows {
        PoolWindows(draw.windows.map {
            .init(count: $0.count, milliseconds: $0.bucketWindowMilliseconds(margin: runner.options.marginMilliseconds))
        })
    }

    /// Claims, spends and sends until the runner stops, one `WorkerQueue` step at a time. Never throws: a store
    /// error (the database busy past its timeout) is logged and the step tried again, and a runner declared dead
    /// registers again; either way the calls it held go back (or were already given back by recovery).
    func run() async {
        let clockOffset = ClockOffset()
        // A discarding group: each send's task is gone once it finishes, so memory does not grow with calls.
        await withDiscardingTaskGroup { sends in
            var queue = WorkerQueue()
            var failedGiveBacks = 0
            // What this worker holds, as last added to the runner's count (`ClaimBudget`).
            var counted = 0
            defer { runner.claimBudget.add(-counted) }
            while true {
                runner.claimBudget.add(queue.held - counted)
                counted = queue.held
                let runnerID = runner.identity.id
                let step = queue.next(runnerID: runnerID, stopping: runner.isStopping || settings.removed,
                                      held: settings.held, pools: hasSeveralPools)
                if step == .stop { break }
                do {
                    switch step {
                    case .waitForWork:
                        // Woken by the runner's loop when a call falls due, with a long backstop in case a wake is
                        // ever missed.
                        await runner.slots.withdraw(account.name) // if it announced and will not ask now
                        await runner.wakeups.wait(account.name, timeoutMilliseconds: runner.options.idleBackstopMilliseconds)
                        queue.woke()
                    case .claim:
                        await runner.slots.withdraw(account.name)
                        queue.claimed(try await claim(as: runnerID, clockOffset: clockOffset), as: runnerID)
                    case .claimOthers(let excluding):
                        queue.claimedOthers(try await claim(as: runnerID, clockOffset: clockOffset, excluding: excluding))
                    case .sendReady:
                        await sendReady(&queue, as: runnerID, sends: &sends, clockOffset: clockOffset)
                    case .waitForTokens(let at):
                        queue.waited()
                        runner.noteWait(account: account.name)
                        let answered = queue.probesAnsweredThen
                        try await runner.pause(milliseconds: max(1, at - runner.storeNow()),
                                               bells: [runner.stopBell, probeAnswers.bell]) {
                            runner.isStopping || probeAnswers.count != answered
                        }
                    case .spend:
                        try await spendNext(&queue, as: runnerID, sends: &sends, clockOffset: clockOffset)
                    case .giveBack:
                        await runner.slots.withdraw(account.name)
                        try await giveBack(&queue, as: runnerID)
                    case .forget:
                        queue.emptied() // no longer ours: recovery gave them back to the queue
                    case .stop:
                        break
                    }
                } catch let error as StoreError where error.kind == .runnerDeclaredDead {
                    queue.emptied()
                    try? await runner.reregister(after: runnerID)
                } catch {
                    if step == .giveBack && runner.isStopping {
                        // Stopping: a few tries; recovery covers the rest once we have unregistered.
                        failedGiveBacks += 1
                        if failedGiveBacks >= 5 { break }
                        try? await clock.sleep(milliseconds: 500)
                    } else {
                        await runner.noteStoreError(error, account: account.name)
                        try? await runner.pause(milliseconds: 1_000)
                    }
                }
            }
            await runner.slots.withdraw(account.name)
        }
    }

    /// Sends the spent calls as in-flight slots free up; one spent before news that the account must slow down
    /// (a refusal, a lower stated limit) goes back untried, its token held as if sent.
    private func sendReady(_ queue: inout WorkerQueue, as runnerID: String, sends: inout DiscardingTaskGroup,
                           clockOffset: ClockOffset) async {
        let name = account.name
        let slots = await runner.slots.acquire(account: name, upTo: queue.ready.count)
        guard !runner.isStopping && runner.identity.id == runnerID else {
            await runner.slots.release(account: name, slots)
            return
        }
        for spent in queue.ready.prefix(slots) {
            guard spent.news == paceNews.count(of: draws(spent.call.pools).map(\.key)) else {
                await notSent(spent.call, as: runnerID, spentAt: spent.at,
                              why: "the provider asked for a slower pace after its tokens were spent")
                await runner.slots.release(account: name)
                continue
            }
            launch(spent, as: runnerID, sends: &sends, clockOffset: clockOffset)
        }
        queue.took(slots)
    }

    /// Spends tokens for the next share of pending calls, while the requests sent before travel, so that they
    /// leave the moment those slots free: a spend's commit does not sit between one request and the next. A
    /// token is held from its spend until a window after the answer, so a call sent a little after its spend is
    /// still counted in every window it could reach the provider in.
    private func spendNext(_ queue: inout WorkerQueue, as runnerID: String, sends: inout DiscardingTaskGroup,
                           clockOffset: ClockOffset) async throws {
        let name = account.name
        // A call heavier than a window of a pool it draws from can never go (the pool was lowered after it was
        // queued): it fails now, instead of holding back its pool's later calls for ever.
        let impossible = queue.pending.compactMap { call -> (ClaimedCall, String)? in
            for draw in draws(call.pools) {
                if let window = draw.windows.first(where: { $0.count < call.weight }) {
                    return (call, "weight \(call.weight) is more than pool '\(PoolKey.display(draw.name))' may send in a "
                            + "whole window (\(window)); it can never be sent")
                }
            }
            return nil
        }
        if !impossible.isEmpty {
            for (call, why) in impossible { await fail(call, as: runnerID, why: why) }
            queue.dropped(Set(impossible.map(\.0.id)))
            if queue.pending.isEmpty { return }
        }
        // Counted among the accounts using slots while it spends (see `InFlightSlots.announce`).
        let share = min(queue.pending.count, await runner.slots.announce(name))
        // A spent call is marked dispatched: if this process dies before it leaves, recovery must treat it as maybe
        // sent. Harmless for a call that may be sent again (idempotent) or looked up (keyed), but it would leave an
        // unkeyed order `uncertain` that never left: such a batch takes its slots first and leaves as it is spent.
        let spendAhead = !queue.pending.contains { !$0.idempotent && !$0.keyed }
        let held = spendAhead ? 0 : await runner.slots.acquire(account: name, upTo: share)
        if !spendAhead, runner.isStopping || runner.identity.id != runnerID {
            await runner.slots.release(account: name, held)
            return
        }
        let grant: SpendGrant
        // Every pending call is offered (one pool's may wait while another's go), at most a share granted.
        do { grant = try await spend(queue.pending, upTo: spendAhead ? share : held, as: runnerID) } catch {
            if spendAhead { await runner.slots.withdraw(name) } else { await runner.slots.release(account: name, held) }
            throw error
        }
        let news = paceNews
        queue.spent(grant, news: { news.count(of: draws($0.pools).map(\.key)) }, probesAnswered: probeAnswers.count)
        if !spendAhead {
            // Its slots are in hand: it leaves now.
            for spent in queue.ready { launch(spent, as: runnerID, sends: &sends, clockOffset: clockOffset) }
            await runner.slots.release(account: name, held - queue.ready.count)
            queue.took(queue.ready.count)
        } else if queue.ready.isEmpty {
            await runner.slots.withdraw(name)
        }
    }

    /// Sends a spent call on a slot this worker holds, and gives the slot back when the answer is in.
    private func launch(_ spent: SpentCall, as runnerID: String, sends: inout DiscardingTaskGroup,
                        clockOffset: ClockOffset) {
        sends.addTask {
            await send(spent.call, as: runnerID, spentAt: spent.at, probe: spent.probe, clockOffset: clockOffset)
            await runner.slots.release(account: account.name)
        }
    }

    /// Stopping: what was spent and not sent goes back untried; what was claimed and not spent is released.
    private func giveBack(_ queue: inout WorkerQueue, as runnerID: String) async throws {
        for spent in queue.ready { await notSent(spent.call, as: runnerID, spentAt: spent.at, why: "the runner is stopping") }
        queue.readyGivenBack()
        if !queue.pending.isEmpty { try await release(queue.pending, as: runnerID) }
        queue.emptied()
    }

    /// Leases the account's due calls (in a commit shared with other accounts' claims) and refreshes its clock
    /// offset.
    private func claim(as runnerID: String, clockOffset: ClockOffset, excluding: [String] = []) async throws -> ClaimedBatch {
        let claimed = try await runner.claims.submit(ClaimRequest(account: account.name, max: claimSize,
                                                                  excluding: excluding),
                                                     as: runnerID)
        // Stored as the provider's clock minus the store's, which every runner shares whatever its own clock says;
        // ours is that plus the store's clock minus ours.
        if !claimed.calls.isEmpty { clockOffset.set(claimed.clockOffsetMilliseconds + runner.storeClockOffset) }
        return claimed
    }

    private func spend(_ calls: [ClaimedCall], upTo most: Int, as runnerID: String) async throws -> SpendGrant {
        var pools: [String: PoolWindows] = [:], byDemand: [PoolDemand: [PoolDraw]] = [:]
        let wanted = calls.map { call -> PoolCall in
            let drawn = byDemand[call.pools] ?? draws(call.pools)
            byDemand[call.pools] = drawn
            for draw in drawn where pools[draw.key] == nil { pools[draw.key] = windows(draw) }
            return PoolCall(id: call.id, weight: call.weight, pools: drawn.map(\.key))
        }
        return try await runner.spends.submit(SpendRequest(account: account.name, calls: wanted, pools: pools,
                                                           maxGranted: most),
                                              as: runnerID)
    }

    private func release(_ calls: [ClaimedCall], as runnerID: String) async throws {
        let ids = calls.map(\.id)
        try await runner.io { try $0.release(ids, runner: runnerID) }
    }

    /// One try of one call. Tokens were spent at `spentAt` (as a cool-down's `probe`, perhaps) and the call marked
    /// dispatched: sign now and send (`attempt`), judge the answer (`decide`), act on the verdict (`act`), and hand
    /// the call's next state (`CallStep`) to the completion writer — unless this runner may have been declared
    /// dead since (see `Runner.maySend`): then the call goes back unsent. Never throws.
    func send(_ call: ClaimedCall, as runnerID: String, spentAt: Int64, probe: Bool = false,
              clockOffset: ClockOffset) async {
        let started = clock.now()
        guard runner.maySend(as: runnerID) else {
            await notSent(call, as: runnerID, spentAt: spentAt,
                          why: "this runner's heartbeat is too old (the process was paused or the database blocked)")
            return
        }
        let tried = await attempt(call, as: runnerID, spentAt: spentAt, probe: probe, started: started,
                                  clockOffset: clockOffset)
        if tried.heldBack {
            await notSent(call, as: runnerID, spentAt: spentAt,
                          why: "it waited in the HTTP client until this runner's heartbeat was too old")
            return
        }
        if probe { probeAnswers.add() }
        if tried.lookingUp != nil { runner.noteLookup(account: account.name) }
        let now = clock.now()
        let verdict = decide(call, tried, now: now)
        let paused = await act(on: verdict, call, tried, as: runnerID, spentAt: spentAt, started: started, now: now,
                               clockOffset: clockOffset)
        let next = CallStep.after(verdict, lookingUp: tried.lookingUp, keyed: call.keyed, message: tried.message,
                                  now: now, paused: paused)
        await runner.record(Completion(
            call: call.id, runner: runnerID, startedAt: started, latencyMilliseconds: now - started,
            httpStatus: tried.status, code: tried.outcome?.code, classification: tried.kind.name,
            message: tried.lookingUp != nil ? "lookup by key" + (tried.message.map { ": " + $0 } ?? "") : tried.message,
            state: next.state, attempts: call.attempts + (next.countsAsAttempt ? 1 : 0),
            nextAttemptAt: next.nextAttemptAt, data: next.state.isTerminal ? tried.outcome?.data : nil,
            error: next.error, finishedAt: now, lookup: next.state == .retrying ? next.lookup : nil,
            mayHaveActed: tried.lookingUp == nil && (tried.kind == .unknownOutcome || tried.outcome?.mayHaveExecuted == true),
            dispatchedAt: spentAt))
        runner.noteFinished(account: account.name, state: next.state)
    }

    /// What one try brought back.
    struct Tried: Sendable {
        var kind: RetryDecision.Kind
        var outcome: Outcome?
        var status: Int?
        var message: String?
        /// This try looked the order up by its key instead of placing it, and why; what the lookup found.
        var lookingUp: LookupReason?
        var found = LookupResult.unclear
        /// The provider can look this call's order up by its key.
        var canLookUp = false
        /// The transport cancelled the request before any of it was written (`HTTPTransport.HeldBack`).
        var heldBack = false
    }

    /// Signs the call (or, for a keyed call waiting for a lookup, the provider's lookup by key) with the time
    /// now, sends it, and reads the answer: its classification, with what the answer says of the account's
    /// quota and pace noted on the way.
    private func attempt(_ call: ClaimedCall, as runnerID: String, spentAt: Int64, probe: Bool, started: Int64,
                         clockOffset: ClockOffset) async -> Tried {
        var sentRequest: SignedRequest?
        var tried = Tried(kind: .permanent)
        do {
            let placing = try APIRequest(method: call.method, path: call.path, paramsJSON: call.params, body: call.body)
            // Recovery asks every keyed call it puts back to be looked up first; where the provider has no lookup
            // (Kookeey) the call is simply sent again, and the provider refuses a second copy of its key.
            let lookup = call.keyed ? call.key.flatMap { api.lookup(placing, key: $0) } : nil
            tried.canLookUp = lookup != nil
            tried.lookingUp = lookup != nil ? call.lookup : nil
            let signed = api.sign(tried.lookingUp != nil ? lookup! : placing, baseURL: account.baseURL,
                                  credentials: credentials,
                                  inputs: SigningInputs(nowMilliseconds: started + clockOffset.get(),
                                                        nonce: Nonce.random(length: api.nonceLength ?? 0)))
            sentRequest = signed
            // Asked again while the request waits in the client to be written (see `HTTPTransport`).
            let runner = self.runner
            let sent = await Result(catching: { try await runner.transport.send(signed, mayLeave: { runner.maySend(as: runnerID) }) })
            // In the history unless it was held back: a failure may have left, and the provider may have counted it.
            let drawn = draws(call.pools)
            if case .failure(let error) = sent, error is HTTPTransport.HeldBack {} else {
                for draw in drawn {
                    runner.history.sent(account: account.name, pool: draw.name, weight: call.weight, at: spentAt,
                                        window: draw.windows[0].windowMilliseconds)
                    runner.metrics.poolSent(account: account.name, pool: PoolKey.display(draw.name), weight: call.weight)
                }
            }
            let reply = try sent.get()
            runner.noteSent(account: account.name, latencyMilliseconds: clock.now() - started)
            let interpreted = interpret(reply, call, placing: placing, tried: &tried)
            if let quota = interpreted.quota, let pool = drawn.first {
                await noteQuota(quota, pool: pool, rateLimited: interpreted.classification == .rateLimited)
            }
            if interpreted.classification == .ok || interpreted.classification == .duplicate {
                for draw in drawn {
                    acceptedPeak.accepted(pool: draw.key, weight: call.weight, at: spentAt,
                                          windowMilliseconds: windows(draw).windows[0].milliseconds)
                }
                if probe { await probeAccepted(call.id, pools: drawn) }
            }
            tried.outcome = interpreted
            tried.status = reply.status
            tried.message = interpreted.message
            tried.kind = interpreted.classification.retryKind
        } catch let error as JSONValue.ParseError {
            tried.message = "stored params are not valid JSON: \(error)"
        } catch is HTTPTransport.HeldBack {
            tried.heldBack = true
        } catch {
            tried.kind = TransportFailure.kind(of: error)
            tried.message = "no answer: " + Self.redacted("\(error)", sentRequest)
        }
        return tried
    }

    /// The provider's answer, classified: a job's `on:` map applies to the call's own answers, never a lookup's;
    /// the provider's "this key was already used", and "already done" right after a try that may have reached the
    /// provider, mean that an earlier try did it.
    private func interpret(_ reply: HTTPReply, _ call: ClaimedCall, placing: APIRequest, tried: inout Tried) -> Outcome {
        let overrides = tried.lookingUp != nil ? [:] : call.overrides.compactMapValues { Classification(name: $0) }
        var interpreted = api.interpret(reply, overrides: overrides)
        let overridden = overrides[interpreted.code ?? ""] != nil
        if tried.lookingUp != nil {
            tried.found = call.key.map { api.lookupResult(interpreted, key: $0) } ?? .unclear
        } else if call.keyed && api.isDuplicateKey(interpreted) && !overridden {
            interpreted.classification = .duplicate
        } else if let by = call.maybeDoneBy, !overridden, interpreted.classification != .ok,
                  api.isAlreadyDone(interpreted, request: placing) {
            interpreted.classification = .duplicate
            interpreted.message = "already done, probably by try \(by)" + (interpreted.message.map { " (\($0))" } ?? "")
        }
        return interpreted
    }

    /// Acts on a verdict before the call's next state is written: corrects the clock for a re-sign, records a
    /// refusal as evidence of the account's pace, pauses the account on an auth failure. Returns whether the
    /// pause was written.
    private func act(on verdict: NextStep, _ call: ClaimedCall, _ tried: Tried, as runnerID: String, spentAt: Int64,
                     started: Int64, now: Int64, clockOffset: ClockOffset) async -> Bool {
        switch verdict {
        case .resignNow:
            await correctClock(outcome: tried.outcome, sentAt: started, receivedAt: now, clockOffset: clockOffset)
        case .retry where tried.kind == .rateLimited:
            // When it left, on the store's clock: a call spent ahead leaves a little after its spend.
            await recordRateLimit(call: call, runner: runnerID, outcome: tried.outcome,
                                  sentAt: max(spentAt, started + runner.storeClockOffset), now: now)
        case .failAndPause(let reason):
            let name = account.name
            let written = try? await runner.io({ try $0.pauseAccount(name, reason: reason, nowMilliseconds: now) })
            // Paused now, by this answer or by another runner's: these credentials are not used again until they
            // are read afresh on resume.
            if written != nil { settings.credentialsRefused() }
            if written == true { runner.logger.warning("account paused", metadata: ["account": "\(name)", "reason": "\(reason)"]) }
            return written == true
        default:
            break
        }
        return false
    }

    /// A claimed call that can never be sent ends `failed`, unsent, with the reason.
    func fail(_ call: ClaimedCall, as runnerID: String, why: String) async {
        let now = clock.now()
        await runner.record(Completion(
            call: call.id, runner: runnerID, startedAt: now, latencyMilliseconds: 0, httpStatus: nil, code: nil,
            classification: RetryDecision.Kind.permanent.name, message: "not sent: " + why, state: .failed,
            attempts: call.attempts, nextAttemptAt: now, data: nil, error: why, finishedAt: now, lookup: nil,
            dispatchedAt: nil))
        runner.noteFinished(account: account.name, state: .failed)
    }

    /// A call whose tokens were spent but which was not sent: it goes back to the queue untried (no attempt used).
    func notSent(_ call: ClaimedCall, as runnerID: String, spentAt: Int64, why: String) async {
        let now = clock.now()
        await runner.record(Completion(
            call: call.id, runner: runnerID, startedAt: now, latencyMilliseconds: 0, httpStatus: nil, code: nil,
            classification: RetryDecision.Kind.notSent.name, message: "not sent: " + why,
            state: .retrying, attempts: call.attempts, nextAttemptAt: now, data: nil, error: nil,
            finishedAt: now, lookup: call.lookup, dispatchedAt: spentAt))
    }

    /// The retry policy's verdict on this try (PacerCore's pure `RetryDecision`).
    private func decide(_ call: ClaimedCall, _ tried: Tried, now: Int64) -> NextStep {
        let previousWasClock = call.lastClass == "clock", jitter = Double.random(in: 0..<1)
        let outcome = tried.outcome
        if let reason = tried.lookingUp {
            return RetryDecision.afterLookup(tried.kind, result: tried.found, reason: reason, code: outcome?.code,
                                             attemptsSoFar: call.attempts, previousWasClock: previousWasClock,
                                             policy: call.retry, retryAfterMilliseconds: outcome?.retryAfterMilliseconds,
                                             now: now, jitter: jitter)
        }
        return RetryDecision.next(tried.kind, code: outcome?.code, attemptsSoFar: call.attempts,
                                  previousWasClock: previousWasClock, idempotent: call.idempotent, policy: call.retry,
                                  retryAfterMilliseconds: outcome?.retryAfterMilliseconds, now: now, jitter: jitter,
                                  mayHaveExecuted: outcome?.mayHaveExecuted ?? false, keyed: call.keyed,
                                  canLookUp: tried.canLookUp)
    }

    /// Lowers the pace of the pool a rate-limited answer concerns, when the answer is evidence (see `Pacing`): the
    /// store charges the pool that was fullest when the call left, and any it was the probe of
    /// (`recordRateLimit(account:pools:...)`), so a refusal in one pool leaves the others' pace alone.
    private func recordRateLimit(call: ClaimedCall, runner runnerID: String, outcome: Outcome?, sentAt: Int64,
                                 now: Int64) async {
        let name = account.name
        let drawn = draws(call.pools)
        guard !drawn.isEmpty else { return }
        let pools = drawn.map {
            RefusedPool(key: $0.key, name: $0.name, windowMilliseconds: windows($0).windows[0].milliseconds,
                        configuredCount: $0.windows[0].count)
        }
        let peak = acceptedPeak
        let accepted = Dictionary(uniqueKeysWithValues: pools.compactMap { pool in
            peak.evidence(pool: pool.key, sentAt: sentAt, windowMilliseconds: pool.windowMilliseconds).map { (pool.key, $0) }
        })
        let retryAfter = outcome?.retryAfterMilliseconds
        var charged = [pools[0]]
        do {
            charged = try await runner.io {
                try $0.recordRateLimit(account: name, pools: pools, call: call.id, runner: runnerID, sentAt: sentAt,
                                       nowMilliseconds: now, retryAfterMilliseconds: retryAfter, accepted: accepted)
            }
        } catch {
            runner.logger.error("cannot record a rate limit", metadata: ["account": "\(name)", "error": "\(error)"])
        }
        for pool in charged {
            paceNews.add(pool: pool.key)
            let shortest = drawn.first { $0.key == pool.key }?.windows[0].windowMilliseconds ?? pool.windowMilliseconds
            runner.history.refused(account: name, pool: pool.name, at: sentAt, window: shortest)
            runner.metrics.poolRefused(account: name, pool: PoolKey.display(pool.name))
        }
        runner.noteRateLimit(account: account.name)
    }

    /// The provider accepted a cool-down's probe: the cool-down of each pool it was the probe of ends, for every
    /// runner.
    private func probeAccepted(_ call: Int64, pools: [PoolDraw]) async {
        let name = account.name, now = runner.storeNow(), keys = pools.map { (key: $0.key, name: $0.name) }
        do {
            try await runner.io {
                try $0.probeAccepted(account: name, pools: keys, call: call, nowMilliseconds: now, configuredCount: 0)
            }
        } catch {
            runner.logger.error("cannot end a cool-down", metadata: ["account": "\(name)", "error": "\(error)"])
        }
    }

    /// The provider's own account of the quota of the endpoint's pool (KuCoin's headers on every answer).
    /// Written only when it says something new: a limit other than the last one written, or little left (where
    /// another client sharing the key shows) or a refusal, at most once a second per pool. Answers in between
    /// cost nothing.
    private func noteQuota(_ quota: ProviderQuota, pool: PoolDraw, rateLimited: Bool) async {
        let name = account.name, window = windows(pool).windows[0].milliseconds, limit = pool.windows[0].count
        let now = clock.now()
        let low = quota.remaining.map { $0 <= max(1, (quota.limit ?? limit) / 10) } ?? false
        if let stated = quota.limit, stated < limit { paceNews.stated(stated, pool: pool.key) }
        guard runner.quotaMemory.shouldWrite(account: pool.key, limit: quota.limit, low: low, rateLimited: rateLimited,
                                             now: now) else { return }
        do {
            try await runner.io {
                try $0.recordQuota(account: name, pool: pool.key, quota, nowMilliseconds: now, windowMilliseconds: window,
                                   configuredCount: limit)
            }
            runner.quotaMemory.wrote(account: pool.key, limit: quota.limit, at: now)
        } catch {
            runner.logger.error("cannot record the provider's quota", metadata: ["account": "\(name)", "error": "\(error)"])
        }
    }

    /// An error's text with every signed part of the request (header values, the query) taken out, so a
    /// transport error that quotes its request cannot carry a signature into the database or a log.
    static func redacted(_ text: String, _ request: SignedRequest?) -> String {
        guard let request else { return text }
        var out = text
        var secrets = request.headers.map(\.value).filter { $0.count >= 8 }
        if let query = request.url.split(separator: "?", maxSplits: 1).dropFirst().first { secrets.append(String(query)) }
        for secret in secrets.sorted(by: { $0.count > $1.count }) {
            out = out.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return out
    }

    /// Settles a spend made outside a call (the time request), trying a few times: an open spend holds its token
    /// until this runner is gone.
    private func settle(_ spends: [Int64]) async {
        for attempt in 1...5 {
            let answered = runner.storeNow()
            if (try? await runner.io({ try $0.settle(spends: spends, answeredAt: answered) })) != nil { return }
            if attempt < 5 { try? await clock.sleep(milliseconds: 200) }
        }
        runner.logger.error("cannot settle the time request's token; it is held until this runner stops",
                            metadata: ["account": "\(account.name)"])
    }

    /// Measures the offset between the provider's clock and ours: from its time endpoint where it has one
    /// (KuCoin), else from the `Date` header.
    func correctClock(outcome: Outcome?, sentAt: Int64, receivedAt: Int64, clockOffset: ClockOffset) async {
        var serverTime = outcome?.serverTimeMilliseconds
        var localMidpoint = (sentAt + receivedAt) / 2
        // The time endpoint is a request like any other: it spends a token (a clock step that errs every call
        // must not send a burst of them outside the limit). No token within a window: the Date header serves.
        if let endpoint = api.serverTimeEndpoint,
           let spend = try? await runner.reserveToken(on: account, cost: api.endpoints.cost(method: .get, path: endpoint,
                                                                                           baseURL: account.baseURL),
                                                      giveUpAfter: window) {
            let t0 = clock.now()
            let reply = try? await runner.transport.send(SignedRequest(method: .get, url: account.baseURL + endpoint,
                                                                       headers: [], body: nil))
            await settle(spend)
            if let reply, let time = api.serverTime(in: reply) {
                serverTime = time
                localMidpoint = (t0 + clock.now()) / 2
            }
        }
        guard let serverTime else { return }
        let offset = serverTime - localMidpoint
        clockOffset.set(offset)
        let name = account.name
        let shared = offset - runner.storeClockOffset // the provider's clock minus the store's (see `claim`)
        _ = try? await runner.io { try $0.setClockOffset(account: name, milliseconds: shared) }
        runner.logger.info("clock corrected", metadata: ["account": "\(account.name)", "offset_ms": "\(offset)"])
    }
}

/// Random nonces from the system generator, in the alphabet providers accept.
public enum Nonce {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)

    /// Eight letters from each draw of the generator (each draw is a system call): a byte picks a letter unless
    /// it is one of the top 8 of 256, which would favour the first letters, and is then skipped.
    public static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var letters: [UInt8] = []
        letters.reserveCapacity(length)
        let unbiased = UInt8(256 - 256 % alphabet.count)
        while letters.count < length {
            var word: UInt64 = generator.next()
            for _ in 0..<8 where letters.count < length {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                if byte < unbiased { letters.append(alphabet[Int(byte) % alphabet.count]) }
            }
        }
        return String(decoding: letters, as: UTF8.self)
    }
}

/// How many times a worker's answers brought news of a pool's pace (see `AccountWorker.paceNews`): a refusal,
/// or a stated limit below any stated before for that pool (so calls over several of KuCoin's pools, each stating
/// its own limit, do not count as news on every answer). Also a plain counter (`count`, the cool-down probes'
/// answers).
final class PaceNews: Sendable {
    private struct State {
        var total = 0
        var byPool: [String: Int] = [:]
        var lowestStated: [String: Int] = [:]
    }
    private let state = Mutex(State())
    /// Rung at each piece of news (a pause waiting for one wakes).
    let bell = Doorbell()
    var count: Int { state.withLock { $0.total } }
    /// The news of these pools so far.
    func count(of pools: [String]) -> Int {
        state.withLock { s in pools.reduce(0) { $0 + (s.byPool[$1] ?? 0) } }
    }
    func add(pool: String? = nil) {
        state.withLock { s in
            s.total += 1
            if let pool { s.byPool[pool, default: 0] += 1 }
        }
        bell.ring()
    }
    func stated(_ limit: Int, pool: String) {
        let lower = state.withLock { s in
            guard limit < s.lowestStated[pool] ?? .max else { return false }
            s.lowestStated[pool] = limit
            return true
        }
        if lower { add(pool: pool) }
    }
}

/// A call whose tokens were spent at `at`, under the pace news numbered `news`; `probe` if a cool-down's probe.
struct SpentCall: Sendable {
    let call: ClaimedCall
    let at: Int64
    let news: Int
    let probe: Bool
}

/// The worker's `AcceptedPeak` per pool, shared by its sends.
final class AcceptedPeakBox: Sendable {
    private let peaks = Mutex<[String: AcceptedPeak]>([:])
    func accepted(pool: String, weight: Int, at: Int64, windowMilliseconds: Int64) {
        peaks.withLock { $0[pool, default: AcceptedPeak()].accepted(weight: weight, at: at, windowMilliseconds: windowMilliseconds) }
    }
    func evidence(pool: String, sentAt: Int64, windowMilliseconds: Int64) -> AcceptedPeak.Evidence? {
        peaks.withLock { $0[pool]?.evidence(sentAt: sentAt, windowMilliseconds: windowMilliseconds) }
    }
}

/// The account's clock offset (server minus local), shared by the worker's sends.
final class ClockOffset: Sendable {
    private let value = Atomic<Int64>(0)
    func get() -> Int64 { value.load(ordering: .relaxed) }
    func set(_ v: Int64) { value.store(v, ordering: .relaxed) }
}
