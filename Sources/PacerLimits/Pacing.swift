/// How hard an account is driven after the provider pushes back: a cool-down, and a ceiling below the configured
/// limit that is learned only from evidence and given back within a few windows.
///
/// Providers answer "rate-limited" for two reasons: their real limit is lower than the one configured (or another
/// client shares the key), or noise (a gateway's spurious 429, a blip). Noise must cost no more than its cool-down;
/// a real limit must be learned quickly.
///
/// A refusal's *fill* is what the window held before the refused call: the weight spent before it, or, when more,
/// the weight the provider accepted of the calls sent in its window (calls that travel together reach the
/// provider in any order, so under a limit of 20 the call spent 18th may be the one refused).
///
/// A refusal without a reset hint is never evidence when the reporter lately saw the provider accept, within one
/// window, as much as the refused call would have made the window hold (`AcceptedPeak`): the provider had room at
/// that level, so the refusal was noise, however many refusals meet a level by chance. (With a hint the provider
/// speaks of its window as it is now, another client's share included.)
/// Otherwise it is *evidence* of a limit when
/// - it came at high fill: within 10% of the capacity (the provider then took about what we thought, so learning
///   costs at most 10%), or
/// - it repeats the fill of two refusals in the last few windows (within 10% of `N`), all at least half the
///   capacity: three refusals at the same level are a limit, not chance. Refusals at less than half the capacity
///   are never evidence: right after a cool-down every burst starts from an empty window, and random refusals
///   there would otherwise teach a ceiling near 0, or
/// - it refines a ceiling just learned: a refusal below it, of a call that left before it was learned (the same
///   burst met the limit lower).
/// The learned ceiling is the fill the provider accepted before refusing. An isolated refusal at low fill only
/// cools the account down (the provider's reset hint, else until the window the refused call was counted in has
/// passed, when its own token comes back) and is remembered as a candidate.
///
/// Recovery: after `hold` quiet windows the ceiling is probed one unit higher (one refusal, not several, when the
/// limit is still there), then climbs by 10% of `N` per window. Each refusal that confirms the same ceiling
/// doubles the hold (1, 2, 4, 8 windows at most), so a real limit is probed rarely while noise is forgotten in a
/// few windows.
///
/// The cool-down after a refusal that is no evidence of a limit is half-open, as a circuit breaker's: after a tenth
/// of the window one call may go as a probe (`takeProbe`), and its acceptance ends the cool-down (`probeAccepted`).
/// That is a refusal the evidence calls noise (the provider lately took as much), or one with no evidence either
/// way (nothing accepted lately) after two quiet windows: the first burst, not an outage that refuses everything.
/// A refused probe, a refusal consistent with a limit, a reset hint, or a refusal in the burst a passed probe let
/// go (a surge: another client filling the window lets a probe through, then refuses the burst after it) cools
/// down for the full term. So noise costs about a tenth of a window instead of the rest of one; a surge costs a
/// probe and a burst until the evidence that the provider took more ages out (two windows) and the refusals teach
/// a ceiling. A hint, even from a refusal of the same burst, closes any probe.
///
/// A limit the provider *states* (KuCoin's `gw-ratelimit-limit`) is taken at once as `reportedLimit`, without
/// evidence or recovery: the provider knows its limit.
public struct Pacing: Sendable, Equatable {
    /// The configured limit count (`N`).
    public var configured: Int
    /// The learned ceiling, `nil` when none has been learned (full speed).
    public var ceiling: Int?
    /// When the ceiling was last set.
    public var ceilingAt: Int64
    /// No sends before this instant.
    public var cooldownUntil: Int64
    /// Refusals that confirmed the current ceiling (1 for a new one).
    public var strikes: Int
    /// The last two refusals that were not evidence on their own: their fills and instants, newest first.
    public var candidateFill: Int?
    public var candidateAt: Int64
    public var olderCandidateFill: Int?
    public var olderCandidateAt: Int64
    /// The limit the provider reports in its answers, when it does.
    public var reportedLimit: Int?
    /// While cooling down after noise, one call may be sent as a probe from this instant (0: no probe).
    public var probeAt: Int64
    /// The call sent as the probe, until its answer (or a later refusal, after which its answer proves nothing).
    public var probeCall: Int64?
    /// When the last refusal was weighed (0: never).
    public var refusedAt: Int64
    /// When a probe last ended a cool-down (0: never).
    public var probePassedAt: Int64

    public init(configured: Int, ceiling: Int? = nil, ceilingAt: Int64 = 0, cooldownUntil: Int64 = 0,
                strikes: Int = 0, candidateFill: Int? = nil, candidateAt: Int64 = 0, olderCandidateFill: Int? = nil,
                olderCandidateAt: Int64 = 0, reportedLimit: Int? = nil, probeAt: Int64 = 0, probeCall: Int64? = nil,
                refusedAt: Int64 = 0, probePassedAt: Int64 = 0) {
        self.refusedAt = refusedAt
        self.probePassedAt = probePassedAt
        self.probeAt = probeAt
        self.probeCall = probeCall
        self.olderCandidateFill = olderCandidateFill
        self.olderCandidateAt = olderCandidateAt
        self.configured = configured
        self.ceiling = ceiling
        self.ceilingAt = ceilingAt
        self.cooldownUntil = cooldownUntil
        self.strikes = strikes
        self.candidateFill = candidateFill
        self.candidateAt = candidateAt
        self.reportedLimit = reportedLimit
    }

    /// Fills within this much of each other are "the same level"; also the recovery step per window.
    var tolerance: Int { max(1, configured / 10) }
    /// A candidate older than this many windows is forgotten.
    static let evidenceWindows: Int64 = 10
    static let maximumHoldWindows: Int64 = 8

    /// The most the provider allows, as far as we know without learning: `N`, or less if it says so.
    var limit: Int { min(configured, reportedLimit.map { max(1, $0) } ?? configured) }

    var holdWindows: Int64 { min(Self.maximumHoldWindows, Int64(1) << Int64(max(0, min(strikes, 8) - 1))) }

    /// The bucket capacity to use at `now`, with the recovery since the last change applied.
    public func capacity(now: Int64, windowMilliseconds: Int64) -> Int {
        guard let ceiling else { return limit }
        let quiet = max(0, now - ceilingAt) / max(windowMilliseconds, 1)
        let steps = Int(min(quiet >= holdWindows ? quiet - holdWindows + 1 : 0, Int64(configured)))
        guard steps > 0 else { return min(limit, ceiling) }
        let raise = 1 + (steps - 1) * tolerance
        return min(limit, ceiling + raise)
    }

    /// A rate-limit answer at `now` to a call sent at `sentAt`.
    /// - Parameters:
    ///   - fill: the weight we had in the provider's window before the refused call (what it accepted).
    ///   - weight: the refused call's weight.
    ///   - retryAfterMilliseconds: the provider's reset hint, if it gave one.
    ///   - accepted: what the reporter saw the provider accept lately (`AcceptedPeak`); `nil` when nothing.
    ///   - call: the refused call, to tell a refused probe.
    public mutating func rateLimited(now: Int64, sentAt: Int64? = nil, fill spent: Int, weight: Int = 1,
                                     retryAfterMilliseconds: Int64?, windowMilliseconds: Int64,
                                     accepted: AcceptedPeak.Evidence? = nil, call: Int64? = nil) {
        let current = capacity(now: now, windowMilliseconds: windowMilliseconds)
        let refusedProbe = call != nil && call == probeCall
        // A call that left before the last refusal was weighed is of the same burst: the same event, which neither
        // opens nor closes a probe. A refusal in the burst a passed probe let go (sent within a fifth of a window
        // of it) is a surge, not noise: the window had one free place, not room. No probe.
        let sameBurst = self.sameBurst(sentAt: sentAt ?? now)
        let sent = sentAt ?? now
        let surge = probePassedAt != 0 && sent >= probePassedAt && sent - probePassedAt <= windowMilliseconds / 5
        // With nothing accepted lately to weigh it against, only a refusal after two quiet windows is given a
        // probe (the first burst of a run): refusals that keep coming with nothing accepted are an outage.
        let quietBefore = refusedAt == 0 || now - refusedAt > 2 * windowMilliseconds
        if !sameBurst || refusedProbe || retryAfterMilliseconds != nil {
            refusedAt = now
            probeCall = nil // a probe out now cannot speak for the cool-down this refusal starts
            probeAt = 0 // only a refusal shown to be noise (below) opens a probe; a hint closes any
        }
        // What the provider took before refusing: the window's spends before this call's, or more when more of
        // the calls sent in the window were accepted (calls that travel together arrive in any order).
        let fill = max(spent, accepted?.window ?? 0)
        // The provider lately took in one window as much as this call would have made: it had room, so noise. Not
        // when the provider says when its window resets: it then speaks of the window as it is now (KuCoin's pools,
        // shared with any other client of the key), and its word outweighs what we saw taken before.
        let disproved = retryAfterMilliseconds == nil && accepted.map { $0.peak >= fill + weight } ?? false
        let highFill = !disproved && fill + weight > current - tolerance
        func matches(_ f: Int?, _ at: Int64) -> Bool {
            f.map { abs($0 - fill) <= tolerance } == true && now - at <= Self.evidenceWindows * windowMilliseconds
        }
        let substantial = !disproved && 2 * fill >= current
        let repeated = substantial && matches(candidateFill, candidateAt) && matches(olderCandidateFill, olderCandidateAt)
        // Calls that travel together reach the provider in any order: when it takes 20 of 25, the refusals come
        // at fills 20 to 24, and the first to be weighed may be the 24th. A refusal of a call that left before the
        // ceiling was learned, below it, is the same evidence found lower, when what the provider accepted of the
        // window bears the level out (a gateway may refuse before any answer is in: spend order alone could walk
        // the ceiling down).
        let corroborated = (accepted?.window ?? 0) >= fill - tolerance
        let refines = substantial && corroborated && ceiling.map { fill < $0 } == true && (sentAt ?? now) < ceilingAt
        guard highFill || repeated || refines else {
            // Isolated, at low fill: most likely noise. Wait it out, and remember it if it could be evidence later.
            if substantial {
                (olderCandidateFill, olderCandidateAt) = (candidateFill, candidateAt)
                (candidateFill, candidateAt) = (fill, now)
            }
            let ownTerm = retryAfterMilliseconds.map { now + $0 } ?? ((sentAt ?? now) + windowMilliseconds)
            cooldownUntil = max(cooldownUntil, ownTerm)
            // Only a cool-down that is this refusal's own term may be cut short: not a longer one a hint set.
            if (disproved || (accepted == nil && quietBefore)) && !surge && !sameBurst && !refusedProbe
                && retryAfterMilliseconds == nil && cooldownUntil == ownTerm {
                probeAt = now + max(1, windowMilliseconds / 10)
            }
            return
        }
        let evidence = repeated ? min(fill, candidateFill ?? fill, olderCandidateFill ?? fill) : fill
        let learned = max(1, min(current, evidence))
        // A confirmation is a refusal met while probing above the ceiling (recovery raised the capacity) at about
        // the same level; noise at a steady ceiling does not lengthen the hold.
        let sameLevel = ceiling.map { abs($0 - learned) <= tolerance } == true
        let confirms = sameLevel && current > (ceiling ?? 0)
        strikes = confirms ? strikes + 1 : sameLevel ? max(strikes, 1) : 1
        ceiling = learned
        ceilingAt = now
        candidateFill = nil
        olderCandidateFill = nil
        (probeAt, probeCall) = (0, nil) // evidence of a limit: no probe ends the cool-down
        // The lower ceiling itself holds the account back until the window has room; a hint adds to it.
        if let retryAfterMilliseconds { cooldownUntil = max(cooldownUntil, now + retryAfterMilliseconds) }
    }

    /// Whether a refusal of a call sent at `sentAt` belongs to the burst of the last refusal weighed (it left
    /// before that one was weighed).
    public func sameBurst(sentAt: Int64) -> Bool { refusedAt != 0 && sentAt <= refusedAt }

    /// Whether `call` may be sent now as the cool-down's probe; if so it becomes the probe.
    public mutating func takeProbe(call: Int64, now: Int64) -> Bool {
        guard cooldownUntil > now, probeAt != 0, probeAt <= now, probeCall == nil else { return false }
        probeCall = call
        probeAt = 0
        return true
    }

    /// When the cool-down's probe may go, if it has not gone yet and is still to come after `now`.
    public func nextProbe(after now: Int64) -> Int64? {
        probeCall == nil && probeAt > now && probeAt < cooldownUntil ? probeAt : nil
    }

    /// When a runner refused a spend by the cool-down should look again: when the probe may go; while a probe is
    /// out, every tenth of a window (its acceptance, reported by the runner that sent it, ends the cool-down for
    /// all); else at the cool-down's end.
    public func lookAgain(after now: Int64, windowMilliseconds: Int64) -> Int64 {
        if let probe = nextProbe(after: now) { return probe }
        guard probeCall != nil else { return cooldownUntil }
        return min(cooldownUntil, now + max(1, windowMilliseconds / 10))
    }

    /// The provider accepted `call`: if it was the probe, the cool-down ends now.
    public mutating func probeAccepted(call: Int64, now: Int64) {
        guard probeCall == call else { return }
        probeCall = nil
        probePassedAt = now
        cooldownUntil = min(cooldownUntil, now)
    }

    /// The provider stated its limit (KuCoin's `gw-ratelimit-limit`).
    public mutating func reported(limit: Int) {
        reportedLimit = limit >= configured ? nil : max(1, limit)
    }
}
