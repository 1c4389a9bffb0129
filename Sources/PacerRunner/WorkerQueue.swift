import PacerCore
import PacerStorage

/// One account worker's calls between the store and the wire, as a value: those leased and not yet spent
/// (`pending`), those spent and waiting for an in-flight slot (`ready`), and what the worker waits for. `next`
/// says what to do now; the worker does it and reports back through the mutating methods. Pure; table-tested
/// (`WorkerQueueTests`).
struct WorkerQueue: Sendable {
    /// What the worker does next.
    enum Step: Sendable, Equatable {
        /// Wait to be woken: the last claim took every due call (the runner's loop wakes us when one falls due).
        case waitForWork
        /// Lease the account's due calls.
        case claim
        /// The pending calls wait for their pools: lease due calls of the account's other pools meanwhile (those not
        /// asking for these demands, `ClaimRequest.excluding`), so one pool's backlog does not idle the others.
        case claimOthers(excluding: [String])
        /// Send the spent calls as in-flight slots free up.
        case sendReady
        /// No tokens for the pending calls before this instant (on the store's clock).
        case waitForTokens(until: Int64)
        /// Spend tokens for the next share of pending calls.
        case spend
        /// Stopping (or held): give back what was spent or leased and not sent.
        case giveBack
        /// This runner was declared dead: recovery gave its calls back already; drop them.
        case forget
        /// Nothing held and stopping: the worker ends.
        case stop
    }

    /// Calls leased to `owner` and not yet spent, in the order claimed (retries first). They survive a store
    /// error: the next turn sends them or gives them back, so no claim is stranded on a live runner.
    private(set) var pending: [ClaimedCall] = []
    /// The runner id the calls are leased to.
    private(set) var owner = ""
    /// Calls whose tokens are spent (and dispatch marked), waiting for an in-flight slot: at most one share.
    private(set) var ready: [SpentCall] = []
    /// When the last spend said tokens come back for the calls it left, and how many cool-down probe answers had
    /// come by then (an accepted probe ends the wait early).
    private(set) var tokensBackAt: Int64?
    private(set) var probesAnsweredThen = 0
    /// The last claim took every due call: claiming again at once would be a write transaction finding nothing.
    private(set) var drained = false
    /// Since the last spend, the other pools were looked in (`claimOthers`) and had nothing due.
    private(set) var othersLooked = false

    var holdsCalls: Bool { !pending.isEmpty || !ready.isEmpty }
    /// Calls leased and about to be sent, for the runner's claim budget (`ClaimBudget`): calls waiting for their
    /// tokens (a cool-down, an hour's window spent) are not counted, or a few rate-limited accounts would shrink
    /// every other account's claims to one call for as long as they wait.
    var held: Int { ready.count + (tokensBackAt == nil ? pending.count : 0) }

    /// `held`: the worker must not send for now (the provider refused the account's credentials and fresh ones
    /// are not read yet): what it holds goes back, and it waits. `pools`: the account has more than one pool of its
    /// own, so calls waiting for one pool may leave others idle.
    func next(runnerID: String, stopping: Bool, held: Bool = false, pools: Bool = false) -> Step {
        if holdsCalls && owner != runnerID { return .forget }
        if stopping { return holdsCalls ? .giveBack : .stop }
        if held { return holdsCalls ? .giveBack : .waitForWork }
        if !ready.isEmpty { return .sendReady }
        if pending.isEmpty { return drained ? .waitForWork : .claim }
        if let at = tokensBackAt {
            if pools && !othersLooked && !drained {
                return .claimOthers(excluding: Array(Set(pending.map(\.pools.claimKey))).sorted())
            }
            return .waitForTokens(until: at)
        }
        return .spend
    }

    mutating func claimed(_ batch: ClaimedBatch, as runnerID: String) {
        pending = batch.calls
        owner = runnerID
        drained = !batch.mayHaveMore
        tokensBackAt = nil
        othersLooked = false
    }

    mutating func woke() { drained = false }

    /// What `claimOthers` leased: spent with the pending calls (theirs wait first in their own pools); nothing
    /// leased, the worker waits for the pending calls' tokens.
    mutating func claimedOthers(_ batch: ClaimedBatch) {
        guard !batch.calls.isEmpty else { othersLooked = true; return }
        pending += batch.calls
        tokensBackAt = nil
    }

    /// The spend's verdict on the front `pending` calls: the granted ones become `ready` (each spent under the
    /// pace news `news` counts for its pools); lost ones are dropped; the rest wait for `grant.retryAt`.
    mutating func spent(_ grant: SpendGrant, news: (ClaimedCall) -> Int, probesAnswered: Int) {
        let granted = Set(grant.granted), lost = Set(grant.lost)
        ready = pending.filter { granted.contains($0.id) }.map {
            SpentCall(call: $0, at: grant.at, news: news($0), probe: grant.probes.contains($0.id))
        }
        pending.removeAll { granted.contains($0.id) || lost.contains($0.id) }
        othersLooked = false
        if !pending.isEmpty { (tokensBackAt, probesAnsweredThen) = (grant.retryAt, probesAnswered) }
    }

    /// These pending calls were ended without being sent (they can never fit their pools).
    mutating func dropped(_ ids: Set<Int64>) { pending.removeAll { ids.contains($0.id) } }

    /// The first `count` ready calls left (or went back untried).
    mutating func took(_ count: Int) { ready.removeFirst(min(count, ready.count)) }

    /// The wait for tokens is over (or was interrupted): spend again.
    mutating func waited() { tokensBackAt = nil }

    /// Everything given back (or taken by recovery).
    mutating func emptied() {
        pending = []
        ready = []
        tokensBackAt = nil
    }

    /// Everything but the pending calls given back (their release failed; it is tried again).
    mutating func readyGivenBack() { ready = [] }
}
