import Testing
@testable import PacerCore
@testable import PacerLimits

/// `Pacing` against a simulated provider, over fixed instants: a strict sliding window whose limit may differ from
/// the configured one, change over time, be shared with another client, or refuse at random (noise). The client
/// sends whenever its own sliding window (at `Pacing`'s capacity) and the cool-down allow (or the cool-down's
/// probe), and weighs each refusal against what it saw accepted, as the runner does.
struct PacingSimulation {
    var configured = 20
    var window: Int64 = 1_000
    /// The provider's real limit at an instant.
    var limit: (Int64) -> Int = { _ in 20 }
    /// Requests per window another client spends from the same quota.
    var otherClient = 0
    /// Probability that the provider refuses a request it had room for.
    var noise = 0.0
    var seconds: Int64 = 60
    /// How long an answer takes to come back: calls keep leaving meanwhile, as in the runner.
    var latency: Int64 = 20

    /// Whether refusals carry what the provider lately accepted (`Pacing.rateLimited(accepted:)`), as the
    /// runner's workers report it.
    var reportsAccepted = true

    struct Result {
        var accepted: Int
        var refused: Int
        /// The lowest capacity the pacing set, from the first second on.
        var lowestCapacity: Int
        /// Accepted requests per window over `from..<to` (milliseconds), to check recovery.
        var acceptedBetween: (Int64, Int64) -> Double
    }

    func run() -> Result {
        let window = self.window
        var pacing = Pacing(configured: configured)
        var ours: [Int64] = []           // every request we sent (tokens spent), accepted or not
        var provider: [Int64] = []       // every request the provider admitted, ours and the other client's
        var acceptedAt: [Int64] = []
        var refused = 0
        var random = SeededRandom(seed: 42) // every run of the table is the same
        let otherEvery = otherClient > 0 ? window / Int64(otherClient) : Int64.max
        var otherNext: Int64 = 0
        func count(_ log: [Int64], _ now: Int64) -> Int {
            var n = 0
            for t in log.reversed() { if now - t < window { n += 1 } else { break } }
            return n
        }
        var answers: [(at: Int64, sentAt: Int64, fill: Int, refused: Bool, call: Int64)] = [] // on their way back
        var calls: Int64 = 0
        var peak = AcceptedPeak()
        var lowestCapacity = configured
        var now: Int64 = 0
        while now < seconds * 1_000 {
            while let first = answers.first, first.at <= now {
                answers.removeFirst()
                guard first.refused else {
                    peak.accepted(weight: 1, at: first.sentAt, windowMilliseconds: window)
                    pacing.probeAccepted(call: first.call, now: now)
                    continue
                }
                let accepted = peak.evidence(sentAt: first.sentAt, windowMilliseconds: window)
                pacing.rateLimited(now: now, sentAt: first.sentAt, fill: first.fill, retryAfterMilliseconds: nil,
                                   windowMilliseconds: window, accepted: reportsAccepted ? accepted : nil,
                                   call: first.call)
            }
            while otherNext <= now {
                if count(provider, now) < limit(now) { provider.append(now) }
                otherNext += otherEvery
            }
            let capacity = pacing.capacity(now: now, windowMilliseconds: window)
            if now >= window { lowestCapacity = min(lowestCapacity, capacity) }
            // As the runner does: nothing leaves while cooling down but the cool-down's probe (`takeProbe`).
            if count(ours, now) < capacity
                && (now >= pacing.cooldownUntil || pacing.takeProbe(call: calls + 1, now: now)) {
                calls += 1
                let fill = count(ours, now)
                ours.append(now)
                let spurious = random.chance(noise)
                if !spurious && count(provider, now) < limit(now) {
                    provider.append(now)
                    acceptedAt.append(now)
                    answers.append((now + latency, now, fill + 1, false, calls))
                } else {
                    refused += 1
                    answers.append((now + latency, now, fill, true, calls))
                }
                continue // the same instant may send again
            }
            now += 5
        }
        return Result(accepted: acceptedAt.count, refused: refused, lowestCapacity: lowestCapacity,
                      acceptedBetween: { from, to in
            Double(acceptedAt.filter { $0 >= from && $0 < to }.count) / (Double(to - from) / Double(window))
        })
    }
}

@Suite struct PacingSimulationTests {
    /// Noise at several rates: the pace stays close to the limit (the old rule, 90% of the fill on any refusal and
    /// 5% back per ten windows, fell to about half at 3%).
    @Test(arguments: [(0.0, 0.97), (0.01, 0.93), (0.03, 0.85), (0.10, 0.5)])
    func spuriousRefusalsCostLittle(noise: Double, minimumUtilization: Double) {
        var sim = PacingSimulation()
        sim.noise = noise
        let result = sim.run()
        let utilization = Double(result.accepted) / Double(20 * 60)
        #expect(utilization >= minimumUtilization, "noise \(noise): utilization \(utilization), refused \(result.refused)")
    }

    /// Noise teaches no ceiling worth the name: a refusal at a fill the provider lately took in full is not
    /// evidence. Without that report (`reportsAccepted = false`), refusals that meet a similar fill by chance
    /// teach a ceiling of 10 of 20 at 3% noise and 1 at 10% (utilization 0.89 and 0.62, against 0.96 and 0.74).
    @Test(arguments: [(0.01, 19), (0.03, 19), (0.10, 12)])
    func noiseTeachesNoCeiling(noise: Double, lowest: Int) {
        var sim = PacingSimulation()
        sim.noise = noise
        let result = sim.run()
        #expect(result.lowestCapacity >= lowest, "noise \(noise): capacity fell to \(result.lowestCapacity)")
    }

    /// The provider enforces 20% less than configured: learned within a few refusals, and probed rarely after.
    @Test func aRealLowerLimitIsLearnedAndKept() {
        var sim = PacingSimulation()
        sim.limit = { _ in 16 }
        let result = sim.run()
        let utilization = Double(result.accepted) / Double(16 * 60)
        #expect(utilization >= 0.95, "utilization \(utilization)")
        #expect(result.refused <= 25, "refused \(result.refused)")
    }

    /// The limit halves for 20 s, then comes back: the pace follows it down, and climbs back within a few windows.
    @Test func aLimitThatDropsAndComesBackIsFollowed() {
        var sim = PacingSimulation()
        sim.limit = { $0 >= 20_000 && $0 < 40_000 ? 10 : 20 }
        let result = sim.run()
        #expect(result.acceptedBetween(25_000, 40_000) <= 10.01)
        let after = result.acceptedBetween(50_000, 60_000)
        #expect(after >= 18, "per window 10-20 s after the limit came back: \(after)")
        #expect(result.refused <= 40, "refused \(result.refused)")
    }

    /// Another client spends 5 of every 20: our share is learned like a lower limit.
    @Test func aSecondClientSharingTheKey() {
        var sim = PacingSimulation()
        sim.otherClient = 5
        let result = sim.run()
        let share = Double(result.accepted) / Double(15 * 60)
        #expect(share >= 0.9, "share \(share), refused \(result.refused)")
        #expect(result.refused <= 40, "refused \(result.refused)")
    }
}
