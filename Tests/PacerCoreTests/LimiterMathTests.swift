import Testing
@testable import PacerCore
@testable import PacerLimits

@Suite struct WindowBudgetTests {
    let budget = WindowBudget(capacity: 10, windowMilliseconds: 1_000)
    typealias S = WindowBudget.Spend

    @Test(arguments: [
        // log, weight, now, decision
        ([S](), 1, Int64(0), WindowBudget.Decision.send),
        ([S(at: 0, weight: 9)], 1, 500, .send),
        ([S(at: 0, weight: 10)], 1, 500, .wait(until: 1_000)),
        ([S(at: 0, weight: 10)], 1, 1_000, .send),                       // returned exactly one window later
        ([S(at: 0, weight: 4), S(at: 200, weight: 4), S(at: 400, weight: 2)], 5, 900, .wait(until: 1_200)),
        ([S(at: 400, weight: 2), S(at: 0, weight: 4), S(at: 200, weight: 4)], 3, 900, .wait(until: 1_000)),
        ([S(at: -5_000, weight: 10)], 10, 0, .send),                     // long gone
        ([S](), 11, 0, .wait(until: 1_000)),                             // heavier than the bucket
        ([S(at: -5_000, weight: 10, open: true)], 1, 0, .wait(until: 50)),  // unanswered: held however old
        ([S(at: 0, weight: 5, open: true), S(at: 100, weight: 5)], 5, 900, .wait(until: 1_100)),
        ([S(at: 0, weight: 5, open: true), S(at: 100, weight: 5)], 6, 900, .wait(until: 950)), // only an answer frees 6
    ])
    func decisions(log: [S], weight: Int, now: Int64, expected: WindowBudget.Decision) {
        #expect(budget.decide(weight: weight, now: now, log: log) == expected)
    }

    @Test func tokensCountOnlyTheWindow() {
        #expect(budget.tokens(now: 1_500, log: [S(at: 0, weight: 3), S(at: 600, weight: 2), S(at: 1_400, weight: 1)]) == 7)
    }

    /// Simulates a greedy sender over 10 windows: it sends whenever the budget says so. The total weight in every
    /// window-long interval stays at or under capacity, and the sender achieves the full rate.
    @Test func greedySenderNeverExceedsAndKeepsUp() {
        var log: [S] = []
        var now: Int64 = 0
        var sends = 0
        while now < 10_000 && sends < 1_000 {
            switch budget.decide(weight: 1, now: now, log: log) {
            case .send: log.append(S(at: now, weight: 1)); sends += 1
            case .wait(let until): now = until
            }
        }
        for start in stride(from: Int64(-999), through: 10_000, by: 7) {
            let inWindow = log.filter { $0.at >= start && $0.at < start + 1_000 }.count
            #expect(inWindow <= 10, "window at \(start) holds \(inWindow)")
        }
        #expect(sends == 100) // 10 per window for 10 windows: 100% of N/W
    }

    /// A slow request path: 30% of requests reach the provider 1.2 s after they leave (more than a window), and the
    /// provider counts them on arrival. Because a spend stays open until its answer and returns a window after it,
    /// the provider never sees more than `capacity` in any window, while dispatches alone would have allowed more.
    @Test func slowRequestsNeverPutTheProviderOverTheLimit() {
        struct Request { var sentAt: Int64; var arrivesAt: Int64; var answeredAt: Int64 }
        var requests: [Request] = []
        var now: Int64 = 0
        var n = 0
        func log(at t: Int64) -> [S] {
            requests.map { $0.answeredAt <= t ? S(at: max($0.sentAt, $0.answeredAt), weight: 1)
                                              : S(at: $0.sentAt, weight: 1, open: true) }
        }
        while now < 20_000 && n < 400 {
            switch budget.decide(weight: 1, now: now, log: log(at: now)) {
            case .send:
                let delay: Int64 = n % 10 < 3 ? 1_200 : 5 // 30% of requests travel 1.2 s
                requests.append(Request(sentAt: now, arrivesAt: now + delay, answeredAt: now + delay + 2))
                n += 1
            case .wait(let until):
                // Wake at the next instant anything changes: a token returning or an answer arriving.
                let answers = requests.map(\.answeredAt).filter { $0 > now }
                now = min(until, answers.min() ?? until)
            }
        }
        let arrivals = requests.map(\.arrivesAt).sorted()
        for (i, start) in arrivals.enumerated() {
            let inWindow = arrivals[i...].prefix { $0 < start + 1_000 }.count
            #expect(inWindow <= 10, "the provider saw \(inWindow) within a window from \(start)")
        }
        #expect(n > 100) // it still makes progress
    }

    @Test func defaultMarginIsHalfAPercentBounded() {
        #expect(RateLimit.defaultMargin(windowMilliseconds: 1_000) == 5)
        #expect(RateLimit.defaultMargin(windowMilliseconds: 30_000) == 100)
        #expect(RateLimit.defaultMargin(windowMilliseconds: 100) == 1)
    }
}

@Suite struct PacingTests {
    @Test func fullSpeedUntilTheProviderPushesBack() {
        let pacing = Pacing(configured: 50)
        #expect(pacing.capacity(now: 0, windowMilliseconds: 1_000) == 50)
    }

    /// One refusal at 40% fill is noise: it costs its cool-down and nothing more.
    @Test func anIsolatedRefusalAtLowFillOnlyCoolsDown() {
        var pacing = Pacing(configured: 50)
        pacing.rateLimited(now: 10_000, sentAt: 9_900, fill: 20, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == nil)
        #expect(pacing.cooldownUntil == 10_900)           // without a hint: until the refused call's window passed
        #expect(pacing.capacity(now: 10_500, windowMilliseconds: 1_000) == 50)
        pacing.rateLimited(now: 20_000, fill: 5, retryAfterMilliseconds: 300, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == nil && pacing.cooldownUntil == 20_300)
    }

    /// A third refusal at the same fill within a few windows is a limit: learned at the lowest of them.
    /// Right after a cool-down bursts start from an empty window: refusals there are never evidence, or noise would
    /// teach a ceiling near 0.
    @Test func refusalsAtLessThanHalfTheCapacityAreNeverEvidence() {
        var pacing = Pacing(configured: 4_000)
        for (i, fill) in [3, 1, 2, 0, 2, 1].enumerated() {
            pacing.rateLimited(now: Int64(i) * 100, fill: fill, retryAfterMilliseconds: nil, windowMilliseconds: 30_000)
        }
        #expect(pacing.ceiling == nil && pacing.candidateFill == nil)
    }

    @Test func aRepeatedRefusalAtTheSameFillIsLearned() {
        var pacing = Pacing(configured: 50)
        pacing.rateLimited(now: 10_000, fill: 30, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        pacing.rateLimited(now: 11_000, fill: 33, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == nil)                    // two may be chance
        pacing.rateLimited(now: 12_000, fill: 32, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == 30 && pacing.strikes == 1) // three are a limit: the lowest of them
        // Too far apart in time, or in fill: not the same evidence.
        var apart = Pacing(configured: 50)
        apart.rateLimited(now: 10_000, fill: 30, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        apart.rateLimited(now: 40_000, fill: 30, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(apart.ceiling == nil)
        apart.rateLimited(now: 41_000, fill: 10, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(apart.ceiling == nil)
    }

    /// At high fill (within 10% of the capacity) one refusal is enough, and costs at most that 10%.
    @Test func aRefusalAtHighFillIsLearnedAtOnce() {
        var pacing = Pacing(configured: 50)
        pacing.rateLimited(now: 10_000, fill: 46, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == 46 && pacing.cooldownUntil == 0)
    }

    /// Recovery: after the hold, one unit (a probe), then 10% of N per window; each confirmation while probing
    /// doubles the hold.
    @Test(arguments: [(1, Int64(0), 40), (1, 999, 40), (1, 1_000, 41), (1, 2_000, 46), (1, 3_000, 50), (3, 3_000, 40),
                      (3, 4_000, 41), (3, 5_000, 46), (9, 7_000, 40), (9, 8_000, 41)])
    func theCeilingRecoversInAFewWindows(strikes: Int, elapsed: Int64, expected: Int) {
        let pacing = Pacing(configured: 50, ceiling: 40, ceilingAt: 0, strikes: strikes)
        #expect(pacing.capacity(now: elapsed, windowMilliseconds: 1_000) == expected)
    }

    @Test func aConfirmationIsARefusalWhileProbingAboveTheCeiling() {
        var pacing = Pacing(configured: 50, ceiling: 40, ceilingAt: 0, strikes: 1)
        // Probing at 41 by t = 1 s; refused again at 40: the limit is confirmed, the hold doubles.
        pacing.rateLimited(now: 1_000, fill: 40, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == 40 && pacing.strikes == 2)
        // A refusal at the steady ceiling (not probing) neither lengthens the hold nor forgets it.
        pacing.rateLimited(now: 1_100, fill: 39, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == 39 && pacing.strikes == 2)
        // A refusal at another level starts over.
        pacing.rateLimited(now: 1_200, fill: 20, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.strikes == 2 && pacing.candidateFill == 20) // low fill, isolated: a candidate only
    }

    /// A refusal at a fill the provider lately took in full is noise: a cool-down and nothing more, not even a
    /// candidate. What it accepted of the refused call's own window counts as the fill when more than the spends
    /// before the call (calls arrive in any order).
    @Test(arguments: [
        // (spends before the call, accepted lately: peak and in the call's window, learned ceiling, candidate)
        (9, Int?.none, 0, Int?.some(9), Int?.none), // high fill, nothing to weigh it against: learned
        (9, 9, 9, 9, nil),                          // the provider took 9, refused the 10th: learned
        (9, 10, 9, nil, nil),                       // it took 10 in a window lately: noise
        (7, nil, 0, nil, 7),                        // half the window or more: a candidate
        (7, 9, 6, nil, nil),                        // it took more than the 8th's fill lately: noise
        (7, 8, 8, nil, 8),                          // it took 8 of this window, refused the 9th: a candidate
        (5, 9, 9, 9, nil),                          // spent 6th but the 10th to arrive: learned at 9
    ] as [(Int, Int?, Int, Int?, Int?)])
    func aRefusalIsWeighedAgainstWhatTheProviderAccepted(fill: Int, peak: Int?, window: Int, ceiling: Int?,
                                                          candidate: Int?) {
        var pacing = Pacing(configured: 10)
        pacing.rateLimited(now: 5_000, sentAt: 4_990, fill: fill, retryAfterMilliseconds: nil,
                           windowMilliseconds: 1_000, accepted: peak.map { .init(peak: $0, window: window) })
        #expect(pacing.ceiling == ceiling && pacing.candidateFill == candidate)
        #expect(pacing.cooldownUntil == (ceiling == nil ? 5_990 : 0))
    }

    /// A refusal shown to be noise, or with no evidence either way, opens one probe a tenth of a window on; its
    /// acceptance ends the cool-down. A refused probe, a refusal soon after a probe passed (a surge), a refusal
    /// consistent with a limit, or a reset hint leaves the full term; a later refusal takes the word from a probe
    /// still out.
    @Test func noiseCoolsDownUntilAProbeIsAccepted() {
        let took10 = AcceptedPeak.Evidence(peak: 10, window: 3)
        var pacing = Pacing(configured: 10)
        pacing.rateLimited(now: 1_010, sentAt: 1_000, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took10, call: 7)
        #expect(pacing.cooldownUntil == 2_000 && pacing.probeAt == 1_110 && pacing.nextProbe(after: 1_050) == 1_110)
        let tooEarly = pacing.takeProbe(call: 8, now: 1_109), due = pacing.takeProbe(call: 8, now: 1_110)
        #expect(!tooEarly && due && pacing.probeCall == 8)
        let another = pacing.takeProbe(call: 9, now: 1_111)
        #expect(!another && pacing.nextProbe(after: 1_111) == nil) // one at a time
        pacing.probeAccepted(call: 9, now: 1_115)
        #expect(pacing.cooldownUntil == 2_000) // not the probe
        pacing.probeAccepted(call: 8, now: 1_115)
        #expect(pacing.cooldownUntil == 1_115 && pacing.probeCall == nil)

        // A refusal in the burst the passed probe let go: a surge, so no probe.
        pacing.rateLimited(now: 1_150, sentAt: 1_140, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took10, call: 10)
        #expect(pacing.cooldownUntil == 2_140 && pacing.probeAt == 0)

        // Later, isolated: a probe; refused, the full term and no other probe.
        pacing.rateLimited(now: 5_010, sentAt: 5_000, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took10, call: 11)
        let second = pacing.takeProbe(call: 12, now: 5_110)
        #expect(second)
        pacing.rateLimited(now: 5_120, sentAt: 5_110, fill: 4, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took10, call: 12)
        #expect(pacing.cooldownUntil == 6_110 && pacing.probeAt == 0 && pacing.probeCall == nil)
        let afterRefusedProbe = pacing.takeProbe(call: 13, now: 5_500)
        #expect(!afterRefusedProbe)

        // A probe out when another call is refused (with a reset hint) says nothing for the new cool-down.
        pacing.rateLimited(now: 9_010, sentAt: 9_000, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took10, call: 14)
        let third = pacing.takeProbe(call: 15, now: 9_110)
        pacing.rateLimited(now: 9_120, sentAt: 9_100, fill: 4, retryAfterMilliseconds: 30_000,
                           windowMilliseconds: 1_000, accepted: took10, call: 16)
        pacing.probeAccepted(call: 15, now: 9_130)
        #expect(third && pacing.cooldownUntil == 39_120)

        // Refusals of calls that left before the last refusal was weighed are the same burst: the probe stays.
        var burst = Pacing(configured: 10)
        burst.rateLimited(now: 13_010, sentAt: 13_000, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                          accepted: took10, call: 17)
        burst.rateLimited(now: 13_012, sentAt: 13_001, fill: 4, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                          accepted: took10, call: 18)
        #expect(burst.probeAt == 13_110 && burst.cooldownUntil == 14_001 && burst.refusedAt == 13_010)

        // A longer cool-down a hint set is not cut short by a probe that a later refusal (no hint) would open.
        var daily = Pacing(configured: 10)
        daily.rateLimited(now: 10, sentAt: 0, fill: 3, retryAfterMilliseconds: 86_400_000, windowMilliseconds: 1_000,
                          call: 1)
        daily.rateLimited(now: 5_000, sentAt: 4_990, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                          accepted: took10, call: 2)
        #expect(daily.cooldownUntil == 86_400_010 && daily.probeAt == 0)

        // No evidence either way (nothing accepted lately): a probe, but not for refusals that keep coming (an
        // outage). Consistent with a limit (the provider took 3 lately and refused the 4th), or a hint: none.
        var quiet = Pacing(configured: 10)
        quiet.rateLimited(now: 10, sentAt: 0, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000, call: 1)
        #expect(quiet.cooldownUntil == 1_000 && quiet.probeAt == 110)
        let outageProbe = quiet.takeProbe(call: 2, now: 110)
        quiet.rateLimited(now: 120, sentAt: 110, fill: 0, retryAfterMilliseconds: nil, windowMilliseconds: 1_000, call: 2)
        quiet.rateLimited(now: 1_130, sentAt: 1_120, fill: 0, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                          call: 3)
        #expect(outageProbe && quiet.cooldownUntil == 2_120 && quiet.probeAt == 0)
        // A hinted refusal of the same burst closes the probe the first opened.
        var mixed = Pacing(configured: 10)
        mixed.rateLimited(now: 10, sentAt: 0, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000, call: 1)
        mixed.rateLimited(now: 30, sentAt: 1, fill: 4, retryAfterMilliseconds: 5_000, windowMilliseconds: 1_000, call: 4)
        let mixedProbe = mixed.takeProbe(call: 5, now: 110)
        #expect(!mixedProbe && mixed.cooldownUntil == 5_030)
        var limited = Pacing(configured: 10)
        limited.rateLimited(now: 10, sentAt: 0, fill: 3, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                            accepted: AcceptedPeak.Evidence(peak: 3, window: 3), call: 1)
        #expect(limited.cooldownUntil == 1_000 && limited.probeAt == 0)
        var hinted = Pacing(configured: 10)
        hinted.rateLimited(now: 10, sentAt: 0, fill: 3, retryAfterMilliseconds: 500, windowMilliseconds: 1_000,
                           accepted: took10, call: 1)
        #expect(hinted.cooldownUntil == 510 && hinted.probeAt == 0)
    }

    /// The provider takes 20 of a burst of 25 in the order they arrive: the refusal weighed first may be the
    /// 24th's. Refusals of calls from the same burst (sent before the ceiling was learned) lower it to the lowest;
    /// one sent after it is weighed on its own.
    @Test func refusalsOfOneBurstLowerTheCeilingToTheLowest() {
        var pacing = Pacing(configured: 25)
        let took20 = AcceptedPeak.Evidence(peak: 20, window: 20)
        pacing.rateLimited(now: 1_020, sentAt: 1_004, fill: 23, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took20)
        #expect(pacing.ceiling == 23)
        pacing.rateLimited(now: 1_021, sentAt: 1_003, fill: 8, retryAfterMilliseconds: nil, windowMilliseconds: 1_000,
                           accepted: took20)
        #expect(pacing.ceiling == 20) // spent 9th, but it met a window that held 20
        pacing.rateLimited(now: 1_500, sentAt: 1_490, fill: 15, retryAfterMilliseconds: nil, windowMilliseconds: 1_000)
        #expect(pacing.ceiling == 20 && pacing.candidateFill == 15) // sent after it: a candidate only
    }

    /// A limit the provider states is the ceiling at once, and follows what it states next.
    @Test func aReportedLimitIsTakenAsIs() {
        var pacing = Pacing(configured: 30)
        pacing.reported(limit: 20)
        #expect(pacing.capacity(now: 0, windowMilliseconds: 1_000) == 20)
        #expect(pacing.capacity(now: 1_000_000, windowMilliseconds: 1_000) == 20)
        pacing.reported(limit: 40)
        #expect(pacing.reportedLimit == nil && pacing.capacity(now: 0, windowMilliseconds: 1_000) == 30)
    }
}

@Suite struct RetryDecisionTests {
    let policy = RetryPolicy(attempts: 3, minimumBackoffMilliseconds: 1_000, maximumBackoffMilliseconds: 10_000)

    func next(_ kind: RetryDecision.Kind, attempts: Int = 0, previousWasClock: Bool = false, idempotent: Bool = true,
              retryAfter: Int64? = nil, mayHaveExecuted: Bool = false) -> NextStep {
        RetryDecision.next(kind, code: "C", attemptsSoFar: attempts, previousWasClock: previousWasClock,
                           idempotent: idempotent, policy: policy, retryAfterMilliseconds: retryAfter, now: 100,
                           jitter: 0, mayHaveExecuted: mayHaveExecuted)
    }

    @Test func table() {
        #expect(next(.ok) == .succeed)
        #expect(next(.duplicate) == .fail(.duplicate))
        #expect(next(.permanent) == .fail(.failed))
        #expect(next(.auth) == .failAndPause(reason: "auth error C from the provider"))
        #expect(next(.rateLimited, attempts: 2) == .retry(at: 100, countsAsAttempt: false))
        #expect(next(.rateLimited, retryAfter: 700) == .retry(at: 800, countsAsAttempt: false))
        #expect(next(.clock(escalatesToAuth: true)) == .resignNow)
        #expect(next(.clock(escalatesToAuth: true), previousWasClock: true)
                == .failAndPause(reason: "signature refused (C) after a clock correction"))
        #expect(next(.clock(escalatesToAuth: false), previousWasClock: true) == .retry(at: 1_100, countsAsAttempt: true))
        #expect(next(.transient) == .retry(at: 1_100, countsAsAttempt: true))
        #expect(next(.transient, attempts: 1) == .retry(at: 1_100, countsAsAttempt: true)) // equal jitter, 0: half of 2 s
        #expect(next(.transient, attempts: 2) == .fail(.dead))
        #expect(next(.transient, retryAfter: 60_000) == .retry(at: 60_100, countsAsAttempt: true))
        #expect(next(.notSent, idempotent: false) == .retry(at: 1_100, countsAsAttempt: true))
        #expect(next(.unknownOutcome, idempotent: true) == .retry(at: 1_100, countsAsAttempt: true))
        #expect(next(.unknownOutcome, idempotent: false) == .fail(.uncertain))
        // A 502/504, a 408 or an internal error can come after the provider acted: an order is not sent again.
        #expect(next(.transient, idempotent: false, mayHaveExecuted: true) == .fail(.uncertain))
        #expect(next(.transient, idempotent: true, mayHaveExecuted: true) == .retry(at: 1_100, countsAsAttempt: true))
        // A refusal before acting ("busy", maintenance) is safe to retry even for an order.
        #expect(next(.transient, idempotent: false, mayHaveExecuted: false) == .retry(at: 1_100, countsAsAttempt: true))
    }
}

/// Keyed calls (`{{key}}` in the provider's dedupe field): looked up before they are sent again, re-sent where
/// the provider has no lookup, and a duplicate answer is confirmed by a lookup.
@Suite struct KeyedRetryTests {
    let policy = RetryPolicy(attempts: 3, minimumBackoffMilliseconds: 1_000, maximumBackoffMilliseconds: 10_000)

    func placing(_ kind: RetryDecision.Kind, attempts: Int = 0, mayHaveExecuted: Bool = false,
                 canLookUp: Bool = true) -> NextStep {
        RetryDecision.next(kind, code: "C", attemptsSoFar: attempts, previousWasClock: false, idempotent: false,
                           policy: policy, retryAfterMilliseconds: nil, now: 100, jitter: 0,
                           mayHaveExecuted: mayHaveExecuted, keyed: true, canLookUp: canLookUp)
    }

    func lookup(_ kind: RetryDecision.Kind, _ result: LookupResult = .unclear, reason: LookupReason = .probe,
                attempts: Int = 0, previousWasClock: Bool = false) -> NextStep {
        RetryDecision.afterLookup(kind, result: result, reason: reason, code: "C", attemptsSoFar: attempts,
                                  previousWasClock: previousWasClock, policy: policy, retryAfterMilliseconds: nil,
                                  now: 100, jitter: 0)
    }

    @Test func anAmbiguousAnswerIsLookedUpOrSentAgainNeverLeftUncertainWhileTriesRemain() {
        #expect(placing(.unknownOutcome) == .lookUp(.probe))
        #expect(placing(.transient, mayHaveExecuted: true) == .lookUp(.probe))
        #expect(placing(.transient, attempts: 2, mayHaveExecuted: true) == .lookUp(.probe))
        // No lookup (Kookeey): the provider's dedupe makes the re-send safe; out of tries it may have been placed.
        #expect(placing(.unknownOutcome, canLookUp: false) == .retry(at: 1_100, countsAsAttempt: true))
        #expect(placing(.unknownOutcome, attempts: 2, canLookUp: false) == .fail(.uncertain))
        // Refusals before acting retry as for any call, and run out as `dead`.
        #expect(placing(.transient, attempts: 2) == .fail(.dead))
    }

    @Test func aDuplicateAnswerIsConfirmedWhereTheProviderCanLookUp() {
        #expect(placing(.duplicate) == .lookUp(.confirm))
        #expect(placing(.duplicate, canLookUp: false) == .fail(.duplicate))
        #expect(placing(.ok) == .succeed)
        // An unkeyed call's duplicate answer is what the code table says, with nothing to look up.
        #expect(RetryDecision.next(.duplicate, code: nil, attemptsSoFar: 0, previousWasClock: false, idempotent: true,
                                   policy: policy, retryAfterMilliseconds: nil, now: 0, jitter: 0, canLookUp: true)
                == .fail(.duplicate))
    }

    @Test func theLookupsAnswerDecides() {
        #expect(lookup(.ok, .found) == .fail(.duplicate))                     // found: done by an earlier try
        #expect(lookup(.ok, .found, reason: .confirm) == .fail(.duplicate))
        #expect(lookup(.permanent, .notFound) == .sendAgain)                  // after a lost answer: not placed
        #expect(lookup(.ok, .notFound, attempts: 2) == .fail(.uncertain))     // ... but no tries left to place it
        #expect(lookup(.permanent, .notFound, reason: .confirm) == .fail(.failed)) // "duplicate" was not this order
        // A refusal in an unknown shape proves nothing: never read as "not placed".
        #expect(lookup(.permanent) == .fail(.uncertain))
        #expect(lookup(.ok) == .fail(.uncertain))
        #expect(lookup(.unknownOutcome) == .retry(at: 1_100, countsAsAttempt: true)) // a read: try again
        #expect(lookup(.transient, attempts: 2) == .fail(.uncertain))         // out of tries: nobody knows
        #expect(lookup(.rateLimited) == .retry(at: 100, countsAsAttempt: false))
        #expect(lookup(.clock(escalatesToAuth: false)) == .resignNow)
        #expect(lookup(.auth) == .failAndPause(reason: "auth error C from the provider"))
    }

    /// Place, lose the answer, probe, find nothing, place again...: every probe counts, so it ends.
    @Test func placeAndProbeCannotLoopForever() {
        var attempts = 0, steps = 0
        var step = placing(.transient, attempts: attempts, mayHaveExecuted: true)
        while steps < 100 {
            steps += 1
            attempts += 1                                  // the placing try counted
            guard step == .lookUp(.probe) else { break }
            step = lookup(.permanent, .notFound, attempts: attempts)
            attempts += 1                                  // so did the probe
            guard step == .sendAgain else { break }
            step = placing(.transient, attempts: attempts, mayHaveExecuted: true)
        }
        #expect(step == .fail(.uncertain))
        #expect(steps <= policy.attempts)
    }

    @Test func keysAreShortDistinctAndInTheAllowedCharset() {
        let keys = (0..<1_000).map { _ in CallKey.random() }
        #expect(Set(keys).count == 1_000)
        #expect(keys.allSatisfy { $0.count == CallKey.length && CallKey.isValid($0) })
        #expect(keys.allSatisfy { $0.allSatisfy { $0.isLowercase || $0.isNumber } })
        #expect(!CallKey.isValid("has space") && !CallKey.isValid(String(repeating: "a", count: 33)) && !CallKey.isValid(""))
        #expect(CallKey.isValid("Order-123"))
    }
}

@Suite struct AcceptedPeakTests {
    /// The most weight accepted within any one window, counting sends from two windows before the refused one,
    /// and what was accepted of the refused call's own window (sent within a window before it, or after it).
    @Test(arguments: [
        // (accepted sends as (at, weight), the refused call's send, expected peak and window)
        ([(Int64, Int)](), Int64(5_000), Int?.none, 0),
        ([(0, 1), (100, 1), (900, 1), (1_000, 1)], 1_500, 3, 2), // 0..900 is one window; 0 and 1,000 are not
        ([(0, 1), (100, 1), (900, 1), (1_000, 1)], 3_000, 1, 0), // only 1,000 is within two windows of 3,000
        ([(100, 1), (0, 1), (50, 5)], 60, 7, 7),                 // answers out of order, weights, sent after
        ([(0, 1), (10, 1), (20, 1), (5_000, 1)], 5_010, 1, 1),    // the old window is forgotten
    ] as [([(Int64, Int)], Int64, Int?, Int)])
    func peakOfOneWindow(sends: [(Int64, Int)], sentAt: Int64, peak expected: Int?, window: Int) {
        var peak = AcceptedPeak()
        for (at, weight) in sends { peak.accepted(weight: weight, at: at, windowMilliseconds: 1_000) }
        let evidence = peak.evidence(sentAt: sentAt, windowMilliseconds: 1_000)
        #expect(evidence?.peak == expected && (evidence?.window ?? 0) == window)
    }

    /// Memory stays bounded however long the account runs: sends older than three windows are dropped.
    @Test func keepsOnlyRecentSends() {
        var peak = AcceptedPeak()
        for i in 0..<100_000 { peak.accepted(weight: 1, at: Int64(i), windowMilliseconds: 100) }
        #expect(peak.sends.count - peak.first <= 301)
        #expect(peak.sends.count <= 700)
        #expect(peak.evidence(sentAt: 99_999, windowMilliseconds: 100) == .init(peak: 100, window: 100))
    }
}
