import Foundation
import GRDB
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerTestSupport
import Synchronization
import Testing
@testable import PacerStorage

/// The runner against the emulator on 127.0.0.1, with fast limits (50/1s). Every run is bounded by --max-seconds
/// and every wait below by a deadline.
@Suite(.serialized) struct RunnerIntegrationTests {
    @Test func oneRunnerDrainsAMixedWorkloadExactlyOnceUnderTheLimit() async throws {
        let h = try await RunnerHarness(configured: "50/1s")
        for p in Provider.allCases { try h.enqueue(p, count: 80) }
        let summary = try await h.runInProcess()
        await h.stop()
        #expect(summary.held.isEmpty)
        #expect(try h.states() == [.succeeded: 320])
        let stats = h.emulator.stats()
        #expect(stats.calls.count == 320)
        #expect(stats.duplicatedCalls.isEmpty)
        for account in stats.accounts {
            #expect(account.maxSentInWindow <= 50, "\(account.key) sent \(account.maxSentInWindow) in one window")
            #expect(account.rejected.isEmpty, "\(account.key): \(account.rejected)")
        }
    }

    @Test func threeRunnerProcessesShareOneLimit() async throws {
        let h = try await RunnerHarness(configured: "50/1s")
        for p in Provider.allCases { try h.enqueue(p, count: 100) }
        let processes = try (0..<3).map { _ in
            try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", h.dbPath],
                                   environment: RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "warning"]) { $1 })
        }
        let deadline = Date().addingTimeInterval(90)
        while processes.contains(where: { $0.process.isRunning }) && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        for p in processes where p.process.isRunning { p.process.terminate() }
        await h.stop()
        for p in processes {
            #expect(p.process.terminationStatus == 0,
                    "stderr: \(String(decoding: p.stderr.fileHandleForReading.availableData, as: UTF8.self))")
        }
        #expect(try h.states() == [.succeeded: 400])
        let stats = h.emulator.stats()
        #expect(stats.calls.count == 400)
        #expect(stats.duplicatedCalls.isEmpty)
        for account in stats.accounts {
            #expect(account.maxSentInWindow <= 50, "\(account.key) sent \(account.maxSentInWindow) in one window")
            #expect(account.rejected["rate_limited"] == nil)
        }
        // All three took part.
        let runners = try await h.sqlite.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT runner) FROM attempts") ?? 0
        }
        #expect(runners == 3)
    }

    @Test func withFaultsIdempotentCallsSucceedAndNothingNonIdempotentIsSentTwice() async throws {
        var faults = FaultSettings()
        faults.seed = 42
        faults.rateLimit = 0.03
        faults.clock = 0.05
        faults.serverError = 0.04
        faults.unavailable = 0.04
        faults.drop = 0.03
        faults.lostResponse = 0.03
        faults.slow = 0.05
        faults.slowMilliseconds = 30
        let h = try await RunnerHarness(configured: "50/1s", faults: faults)
        for p in Provider.allCases { try h.enqueueReads(p, count: 40) }
        try h.enqueue(.kookeey, count: 30, idempotent: false, job: "kookeey-orders")
        try h.enqueue(.kucoin, count: 30, idempotent: false, job: "kucoin-orders")
        let summary = try await h.runInProcess { $0.maxSeconds = 90 }
        await h.stop()
        #expect(summary.held.isEmpty)

        var byJob: [String: [CallState: Int]] = [:]
        try h.store.results(run: nil) { byJob[$0.job, default: [:]][$0.state, default: 0] += 1 }
        for job in ["kookeey-job", "kucoin-reads", "bitunix-job", "bitz-job"] {
            #expect(byJob[job] == [.succeeded: 40], "\(job): \(byJob[job] ?? [:])")
        }
        for job in ["kookeey-orders", "kucoin-orders"] {
            let states = byJob[job] ?? [:]
            #expect(Set(states.keys).isSubset(of: [.succeeded, .uncertain]), "\(job): \(states)")
            #expect(states.values.reduce(0, +) == 30)
        }
        // Non-idempotent calls were performed at most once each.
        let stats = h.emulator.stats()
        let orders = stats.calls.filter { $0.key.contains("/order") || $0.key.contains("POST /api/v1/orders") }
        #expect(orders.values.allSatisfy { $0 == 1 }, "\(orders.filter { $0.value > 1 })")

        // Rate-limit deferrals and clock errors answered by a re-sign used no attempt: per call, attempts equals
        // its tries that counted (a clock error counts only when the try before it was a clock error too). A call
        // spent but given back unsent (a refusal arrived first) is recorded as `not-sent`: not a try at all.
        let mismatches = try await h.sqlite.pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM calls c WHERE c.attempts != (
                    SELECT COUNT(*) FROM attempts a WHERE a.call_id = c.id
                    AND a.classification NOT IN ('rate-limited', 'not-sent')
                    AND NOT (a.classification = 'clock' AND COALESCE((SELECT b.classification FROM attempts b
                             WHERE b.call_id = c.id AND b.id < a.id
                             ORDER BY b.id DESC LIMIT 1), '') != 'clock'))
                """) ?? -1
        }
        #expect(mismatches == 0)
        // Every injected fault shows up as exactly one try of the matching classification.
        let classes = try h.attemptsByClassification()
        func injected(_ reasons: String...) -> Int {
            stats.accounts.reduce(0) { sum, a in sum + reasons.reduce(0) { $0 + (a.rejected[$1] ?? 0) } }
        }
        #expect(injected("fault_rate_limit") > 0 && injected("fault_clock") > 0, "seed 42 injects both")
        #expect(classes["rate-limited", default: 0] == injected("fault_rate_limit", "rate_limited"))
        #expect(classes["clock", default: 0] == injected("fault_clock"))
        #expect(classes["transient", default: 0] == injected("fault_500", "fault_503"))
        #expect(classes["no-answer", default: 0] == injected("fault_drop", "fault_lost_response"))
    }

    /// After a clock error KuCoin's time endpoint is asked for the server's time: a request like any other, which
    /// the provider meters (per IP), so it spends a token of the account's bucket and settles it at the answer.
    @Test func kucoinsTimeRequestSpendsAToken() async throws {
        var faults = FaultSettings()
        faults.clock = 1 // every call's first try: a clock error (a second in a row is never injected)
        let h = try await RunnerHarness(configured: "50/1s", faults: faults)
        try h.enqueueReads(.kucoin, count: 10)
        _ = try await h.runInProcess()
        await h.stop()
        #expect(try h.states() == [.succeeded: 10])
        let asked = h.emulator.stats().publicRequests["kucoin"] ?? 0
        let spent = try await h.sqlite.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM limiter_spends WHERE account = 'kucoin' AND call_id IS NULL AND open = 0") ?? 0
        }
        #expect(asked > 0, "the time endpoint was asked")
        #expect(spent == asked, "every time request spent a token: \(spent) spends for \(asked) requests")
    }

    @Test func lostAnswersToNonIdempotentCallsEndUncertainAndAreNeverResent() async throws {
        var faults = FaultSettings()
        faults.lostResponse = 1
        let h = try await RunnerHarness(configured: "50/1s", faults: faults)
        try h.enqueue(.kookeey, count: 10, idempotent: false, job: "kookeey-orders")
        try h.enqueue(.kucoin, count: 10, idempotent: false, job: "kucoin-orders")
        let summary = try await h.runInProcess()
        await h.stop()
        #expect(summary.held.isEmpty)
        #expect(try h.states() == [.uncertain: 20])
        let stats = h.emulator.stats()
        #expect(stats.calls.count == 20)
        #expect(stats.duplicatedCalls.isEmpty)
        var errors: [String?] = []
        try h.store.results(run: nil) { errors.append($0.error) }
        #expect(errors.allSatisfy { $0?.contains("not idempotent") == true })
    }

    @Test func anAccountLimitedBelowItsConfigurationSettlesUnderTheRealLimit() async throws {
        let h = try await RunnerHarness(configured: "50/1s", enforced: "20/1s")
        try h.enqueue(.kookeey, count: 110)
        let samples = Mutex<[(Int64, Int)]>([])
        let sampler = Task {
            let start = Date()
            while !Task.isCancelled && Date().timeIntervalSince(start) < 30 {
                let rejected = h.emulator.stats().account("kookeey-key")?.rejected["rate_limited"] ?? 0
                samples.withLock { $0.append((Int64(Date().timeIntervalSince(start) * 1000), rejected)) }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        let summary = try await h.runInProcess { $0.maxSeconds = 60 }
        sampler.cancel()
        await h.stop()
        #expect(summary.held.isEmpty)
        #expect(try h.states() == [.succeeded: 110])
        let series = samples.withLock { $0 }
        let total = series.last?.1 ?? 0
        // Two seconds after the first refusal was seen (not after the start: a loaded machine starts late).
        let firstRefused = series.first { $0.1 > 0 }?.0 ?? 0
        let afterTwoSeconds = series.first { $0.0 >= firstRefused + 2_000 }?.1 ?? total
        #expect(total > 0, "the lower real limit was hit at first")
        // Once learned, the limit is probed rarely (a unit above it, the hold doubling with each confirmation).
        // (A limit 60% below the configured one: the first burst alone is refused up to 30 times at concurrency 16.)
        #expect(total - afterTwoSeconds <= 10, "rejections kept growing after the runner adapted: \(series)")
        #expect(total <= 30, "\(series)")
        #expect((h.emulator.stats().account("kookeey-key")?.maxAcceptedInWindow ?? 99) <= 20)
    }

    /// On SQLite and on PostgreSQL.
    @Test(arguments: TestDatabase.allCases)
    func aRunnerKilledMidRunLosesNothingAndDuplicatesNothing(_ database: TestDatabase) async throws {
        let h = try await RunnerHarness(configured: "50/1s", database: database)
        try h.enqueue(.kookeey, count: 150)                                   // idempotent: may be re-sent
        try h.enqueue(.bitz, count: 150)
        try h.enqueue(.kucoin, count: 100, idempotent: false, job: "kucoin-orders") // never re-sent
        let victim = try PacerProcess.start(["run", "--drain", "--max-seconds", "60", "--db", h.dbPath],
                                            environment: RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "error"]) { $1 })
        // Let it get going (bounded), then kill it without warning.
        let started = Date()
        while Date().timeIntervalSince(started) < 10,
              (h.emulator.stats().accounts.map(\.accepted).reduce(0, +)) < 120 {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(victim.process.processIdentifier, SIGKILL)
        victim.process.waitUntilExit()
        #expect(victim.process.terminationReason == .uncaughtSignal)
        let acceptedBeforeKill = h.emulator.stats().accounts.map(\.accepted).reduce(0, +)
        #expect(acceptedBeforeKill >= 120 && acceptedBeforeKill < 400, "killed mid-run, after \(acceptedBeforeKill)")

        // A new runner finds the dead one by its process id and finishes the queue.
        let summary = try await h.runInProcess { $0.maxSeconds = 60 }
        await h.stop()
        #expect(summary.held.isEmpty)
        var byJob: [String: [CallState: Int]] = [:]
        try h.store.results(run: nil) { byJob[$0.job, default: [:]][$0.state, default: 0] += 1 }
        #expect(byJob["kookeey-job"] == [.succeeded: 150])
        #expect(byJob["bitz-job"] == [.succeeded: 150])
        let orders = byJob["kucoin-orders"] ?? [:]
        #expect(Set(orders.keys).isSubset(of: [.succeeded, .uncertain]) && orders.values.reduce(0, +) == 100, "\(orders)")
        let stats = h.emulator.stats()
        // Nothing lost: every idempotent call was performed (a few twice: those whose answers the dead runner had
        // not yet recorded). No non-idempotent call was performed twice; each uncertain one was sent only by the
        // dead runner (it may or may not have arrived) and never again.
        let performed = stats.calls.filter { $0.key.contains("POST /api/v1/orders") }
        #expect(stats.calls.count - performed.count == 300)
        #expect(performed.values.allSatisfy { $0 == 1 }, "\(performed.filter { $0.value > 1 })")
        #expect(performed.count >= orders[.succeeded] ?? 0)
        let triesOfUncertain = try h.classificationsOfTries(ofCallsIn: .uncertain)
        #expect(triesOfUncertain.count == orders[.uncertain] ?? 0, "an uncertain call was tried again")
        #expect(triesOfUncertain.allSatisfy { $0 == "abandoned" })
    }

    @Test func anAuthErrorPausesOnlyThatAccountAndDrainSaysWhy() async throws {
        let h = try await RunnerHarness(configured: "50/1s")
        try h.enqueue(.kookeey, count: 20)
        try h.enqueue(.bitz, count: 20)
        var env = RunnerHarness.environment
        env[RunnerHarness.envName(.kookeey)] = "not-the-secret"
        env["PACER_LOG_LEVEL"] = "error"
        let result = try PacerProcess.run(["run", "--drain", "--max-seconds", "30", "--db", h.dbPath],
                                          environment: env, timeoutSeconds: 40)
        await h.stop()
        #expect(result.status != 0)
        #expect(result.stderr.contains("kookeey holds"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("not-the-secret"), "a secret reached an error message")
        var byJob: [String: [CallState: Int]] = [:]
        try h.store.results(run: nil) { byJob[$0.job, default: [:]][$0.state, default: 0] += 1 }
        #expect(byJob["bitz-job"] == [.succeeded: 20])
        // The refused call failed; the rest of the account's queue waits for a person instead of burning.
        let kookeey = byJob["kookeey-job"] ?? [:]
        #expect(kookeey[.failed] == 1 && (kookeey[.queued] ?? 0) + (kookeey[.retrying] ?? 0) == 19, "\(kookeey)")
        let paused = try h.store.status().accounts.first { $0.account == "kookeey" }?.pausedReason
        #expect(paused?.contains("10059") == true, "\(paused ?? "not paused")")
        // Every attempt's stored fields are free of the secret and the signature too.
        let stored = try Data(contentsOf: URL(fileURLWithPath: h.dbPath)) + ((try? Data(contentsOf: URL(fileURLWithPath: h.dbPath + "-wal"))) ?? Data())
        for secret in RunnerHarness.secrets.values + ["not-the-secret"] {
            #expect(stored.range(of: Data(secret.utf8)) == nil, "\(secret) is in the database")
        }
    }

    /// `--fail-on`: a wrong secret fails the account's first call; cron sees exit 3 and one line naming it. A list
    /// without that state keeps the usual exit (held calls: 1), and bad state names are refused before running.
    @Test func failOnExitsThreeWhenACallEndedInAListedState() async throws {
        let h = try await RunnerHarness(configured: "50/1s")
        try h.enqueue(.kookeey, count: 5)
        try h.enqueue(.bitz, count: 5)
        var env = RunnerHarness.environment
        env[RunnerHarness.envName(.kookeey)] = "not-the-secret"
        env["PACER_LOG_LEVEL"] = "error"
        let failing = try await PacerProcess.finish(["run", "--drain", "--max-seconds", "30", "--fail-on", "failed,dead,uncertain",
                                            "--db", h.dbPath], environment: env, timeoutSeconds: 40)
        #expect(failing.status == 3, "stderr: \(failing.stderr)")
        let line = failing.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(line.hasPrefix("pacer run: 1 failed of the 6 call(s) this run ended"), "\(failing.stderr)")
        #expect(failing.stderr.contains("kookeey holds 4 call(s)"), "\(failing.stderr)")
        // Again, with the account still paused: nothing new ends, so only the held calls speak (exit 1).
        let quiet = try await PacerProcess.finish(["run", "--drain", "--max-seconds", "30", "--fail-on", "failed",
                                          "--db", h.dbPath], environment: env, timeoutSeconds: 40)
        #expect(quiet.status == 1, "stderr: \(quiet.stderr)")
        #expect(!quiet.stderr.contains("--fail-on"))
        let refused = try await PacerProcess.finish(["run", "--drain", "--fail-on", "failed,running", "--db", h.dbPath],
                                           environment: env, timeoutSeconds: 40)
        await h.stop()
        #expect(refused.status != 0 && refused.status != 3)
        #expect(refused.stderr.contains("--fail-on 'running': expected final states"), "\(refused.stderr)")
    }

    @Test func sigtermStopsClaimingFinishesInFlightAndExitsZero() async throws {
        let h = try await RunnerHarness(configured: "20/1s")
        try h.enqueue(.kookeey, count: 200) // ten seconds of work at 20/1s
        let runner = try PacerProcess.start(["run", "--db", h.dbPath],
                                            environment: RunnerHarness.environment.merging(["PACER_LOG_LEVEL": "error"]) { $1 })
        let started = Date()
        while Date().timeIntervalSince(started) < 10, (h.emulator.stats().account("kookeey-key")?.accepted ?? 0) < 30 {
            try await Task.sleep(for: .milliseconds(20))
        }
        runner.process.terminate() // SIGTERM
        let deadline = Date().addingTimeInterval(15)
        while runner.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!runner.process.isRunning)
        #expect(runner.process.terminationReason == .exit && runner.process.terminationStatus == 0)
        let states = try h.states()
        #expect(states[.inFlight] == nil, "claims were given back: \(states)")
        #expect((states[.succeeded] ?? 0) >= 30 && (states[.succeeded] ?? 0) < 200, "\(states)")
        // What is left is picked up by the next runner.
        let summary = try await h.runInProcess()
        await h.stop()
        #expect(summary.held.isEmpty)
        #expect(try h.states() == [.succeeded: 200])
        #expect(h.emulator.stats().duplicatedCalls.isEmpty)
    }

    @Test func aBusyAccountDoesNotStarveAQuietOne() async throws {
        let h = try await RunnerHarness(configured: "100000/1s")
        try h.enqueue(.kookeey, count: 1_500)
        try h.enqueue(.bitz, count: 20)
        _ = try await h.runInProcess { $0.concurrency = 4 }
        await h.stop()
        #expect(try h.states() == [.succeeded: 1_520])
        let (quietDone, busyDone, busyStart) = try await h.sqlite.pool.read { db in
            (try Int64.fetchOne(db, sql: "SELECT MAX(r.finished_at) FROM results r JOIN calls c ON c.id = r.call_id WHERE c.account = 'bitz'") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MAX(r.finished_at) FROM results r JOIN calls c ON c.id = r.call_id WHERE c.account = 'kookeey'") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT MIN(a.started_at) FROM attempts a") ?? 0)
        }
        // The quiet account's 20 calls share the slots from the start instead of queueing behind 1,500.
        #expect(quietDone - busyStart < (busyDone - busyStart) / 4,
                "quiet done after \(quietDone - busyStart) ms of \(busyDone - busyStart) ms")
    }

    /// A cancel whose answer was lost did cancel the order; its retry is told "order does not exist". That is the
    /// earlier try's work, not a failure: the call ends `duplicate` with a note naming the try.
    @Test func aCancelThatWasAlreadyDoneByALostTryEndsDuplicate() async throws {
        var faults = FaultSettings()
        faults.seed = 5
        faults.lostResponse = 0.3
        let h = try await RunnerHarness(configured: "50/1s", faults: faults)
        try h.enqueue(.kucoin, count: 40)
        _ = try await h.runInProcess { $0.maxSeconds = 60 }
        await h.stop()
        let states = try h.states()
        #expect(states[.failed] == nil, "\(states)")
        #expect((states[.duplicate] ?? 0) > 0 && (states[.succeeded] ?? 0) + (states[.duplicate] ?? 0) == 40, "\(states)")
        let notes = try await h.sqlite.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT a.message FROM attempts a JOIN calls c ON c.id = a.call_id
                WHERE c.state = 'duplicate' AND a.classification = 'duplicate'
                """)
        }
        #expect(notes.count == states[.duplicate] && notes.allSatisfy { $0.hasPrefix("already done, probably by try ") }, "\(notes)")
    }

    /// KuCoin states its limit on every answer: the first answer's "20" becomes the ceiling, so a configuration
    /// of 30 costs at most the refusals of calls already on their way.
    @Test func kucoinsStatedLimitIsFollowedAtOnce() async throws {
        let h = try await RunnerHarness(configured: "30/1s", enforced: "20/1s")
        try h.enqueue(.kucoin, count: 80)
        _ = try await h.runInProcess { $0.maxSeconds = 60; $0.concurrency = 4 }
        await h.stop()
        #expect(try h.states() == [.succeeded: 80])
        let account = try #require(h.emulator.stats().account("kucoin-key"))
        #expect((account.rejected["rate_limited"] ?? 0) <= 3, "\(account.rejected)")
        let pacing = try h.store.pacing(account: "kucoin", nowMilliseconds: 0, windowMilliseconds: 1_000, configuredCount: 30)
        #expect(pacing.pacing.reportedLimit == 20)
    }

    /// Another client spends 8 of every 20 requests of the KuCoin account's quota. KuCoin's `remaining` shows it:
    /// Pacer holds the difference as spent until the reset, so refusals stay few.
    @Test func aSecondClientOnTheSameKeyIsSeenInKuCoinsRemaining() async throws {
        let h = try await RunnerHarness(configured: "20/1s", otherClient: [.kucoin: 8])
        try h.enqueue(.kucoin, count: 60)
        _ = try await h.runInProcess { $0.maxSeconds = 60; $0.concurrency = 4 }
        await h.stop()
        #expect(try h.states() == [.succeeded: 60])
        let account = try #require(h.emulator.stats().account("kucoin-key"))
        // 6-11 refusals in 14 runs on one machine (the same before and after refusals were weighed against what
        // was accepted), once 13 under the full suite's load: the bound leaves room for timing, not for drift.
        #expect((account.rejected["rate_limited"] ?? 0) <= 15, "\(account.rejected)")
        #expect(account.maxAcceptedInWindow <= 20)
        // (How the difference is held, as spends of no call, is the store's conformance case
        // providerQuotasAreFollowed; such rows are trimmed once out of the window, so they are not counted here.)
    }
}
