import PacerCore
import PacerStorage
import Testing
import PacerLimits

/// The behaviour every `PacerStore` must have. Each implementation's test suite runs all of these against a
/// fresh store of its own kind (today SQLite; a PostgreSQL store would add one suite that calls the same checks).
struct StoreConformance {
    let makeStore: () throws -> any PacerStore

    static func account(_ name: String, _ provider: Provider = .kucoin, limit: RateLimit = .init(count: 50, windowMilliseconds: 1000)) -> Account {
        Account(name: name, provider: provider, baseURL: "http://127.0.0.1:9/\(provider.rawValue)", limit: limit,
                credentials: CredentialReferences(key: "k", secretEnv: "SECRET", passphraseEnv: "PASS"))
    }

    static func calls(_ n: Int, weight: Int = 1) -> (_ emit: (NewCall) throws -> Void) throws -> Void {
        { emit in
            for i in 0..<n {
                try emit(NewCall(index: i, method: .delete, path: "/api/v1/orders/\(i)",
                                 params: #"{"symbol":"BTC-USDT","n":\#(i)}"#, body: nil, weight: weight, idempotent: true))
            }
        }
    }

    static func run(_ job: String, _ account: String) -> NewRun {
        NewRun(job: job, account: account, jobFile: "jobs/\(job).yaml", retry: .default, createdAtMilliseconds: 1_000)
    }

    /// `addAccounts` adds all or none; the dashboard's history adds up per bucket, reads back from an instant on,
    /// and `prune` trims it.
    func accountsInBulkAndHistory() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("b"), replace: false, nowMilliseconds: 1)
        let refused = #expect(throws: StoreError.self) {
            try store.addAccounts([Self.account("a"), Self.account("b"), Self.account("c")], replace: false, nowMilliseconds: 2)
        }
        #expect(refused?.kind == .accountExists)
        #expect(try store.accounts().map(\.name) == ["b"], "nothing of a refused batch is added")
        try store.addAccounts([Self.account("a"), Self.account("b"), Self.account("c")], replace: true, nowMilliseconds: 3)
        #expect(try store.accounts().map(\.name) == ["a", "b", "c"])

        try store.addHistory([HistoryBucket(account: "a", start: 1_000, widthMilliseconds: 1_000, sent: 3, refused: 0),
                              HistoryBucket(account: "a", start: 2_000, widthMilliseconds: 1_000, sent: 1, refused: 1),
                              HistoryBucket(account: "b", start: 1_000, widthMilliseconds: 1_000, sent: 7, refused: 0)])
        try store.addHistory([HistoryBucket(account: "a", start: 1_000, widthMilliseconds: 1_000, sent: 2, refused: 0)])
        #expect(try store.history(account: "a", since: 0).buckets.map { [$0.start, Int64($0.sent), Int64($0.refused)] }
                == [[1_000, 5, 0], [2_000, 1, 1]])
        #expect(try store.history(account: "a", since: 2_500).buckets.map(\.start) == [2_000], "a bucket still open at 2,500")
        #expect(try store.history(account: "a", since: 3_000).buckets.isEmpty)
        _ = try store.prune(finishedBefore: 2_500)
        #expect(try store.history(account: "a", since: 0).buckets.map(\.start) == [2_000])
        #expect(try store.history(account: "b", since: 0).buckets.isEmpty)
        try store.addHistory([HistoryBucket(account: "a", start: 9_000, widthMilliseconds: 1_000, sent: 4, refused: 0)])
        try store.trimHistory(before: 5_000) // what each run trims (a day back, here 5 s)
        #expect(try store.history(account: "a", since: 0).buckets.map(\.start) == [9_000])
    }

    func accountsRoundTrip() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("b"), replace: false, nowMilliseconds: 1)
        try store.addAccount(Self.account("a", .bitz), replace: false, nowMilliseconds: 1)
        #expect(try store.accounts().map(\.name) == ["a", "b"])
        #expect(try store.account(named: "a") == Self.account("a", .bitz))
        #expect(try store.account(named: "zzz") == nil)

        let again = #expect(throws: StoreError.self) { try store.addAccount(Self.account("a"), replace: false, nowMilliseconds: 2) }
        #expect(again?.kind == .accountExists)
        var replaced = Self.account("a", .kookeey, limit: .init(count: 10, windowMilliseconds: 1000))
        replaced.credentials.passphraseEnv = nil
        try store.addAccount(replaced, replace: true, nowMilliseconds: 3)
        #expect(try store.account(named: "a") == replaced)

        try store.removeAccount(named: "b", purgeRuns: false)
        #expect(try store.accounts().map(\.name) == ["a"])
        let missing = #expect(throws: StoreError.self) { try store.removeAccount(named: "b", purgeRuns: false) }
        #expect(missing?.kind == .unknownAccount)
    }

    func enqueueCountsAndStatus() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        let runs = try store.enqueue([
            RunToEnqueue(run: Self.run("one", "acct"), produceCalls: Self.calls(3)),
            RunToEnqueue(run: Self.run("two", "acct"), produceCalls: Self.calls(5)),
        ])
        #expect(runs.map(\.calls) == [3, 5])
        #expect(runs.map(\.job) == ["one", "two"])
        #expect(runs[0].run < runs[1].run)
        let status = try store.status()
        #expect(status.runs.map(\.counts) == [[.queued: 3], [.queued: 5]])
        #expect(status.runs.map(\.total) == [3, 5])
        #expect(status.runs.map(\.finished) == [0, 0])
        #expect(status.accounts.map(\.account) == ["acct"])
        #expect(status.accounts[0].counts == [.queued: 8])
        #expect(status.accounts[0].paused == false)
    }

    func manyCallsKeepTheirOrder() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        let runs = try store.enqueue([RunToEnqueue(run: Self.run("many", "acct"), produceCalls: Self.calls(1_000))])
        #expect(runs.map(\.calls) == [1_000])
        var paths: [String] = []
        try store.results(run: nil) { paths.append($0.path) }
        #expect(paths == (0..<1_000).map { "/api/v1/orders/\($0)" })
    }

    func enqueueIsAllOrNothing() throws {
        struct Boom: Error {}
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        #expect(throws: Boom.self) {
            try store.enqueue([
                RunToEnqueue(run: Self.run("good", "acct"), produceCalls: Self.calls(10)),
                RunToEnqueue(run: Self.run("bad", "acct")) { emit in
                    try Self.calls(4)(emit)
                    throw Boom()
                },
            ])
        }
        let unknown = #expect(throws: StoreError.self) {
            try store.enqueue([RunToEnqueue(run: Self.run("x", "nobody"), produceCalls: Self.calls(1))])
        }
        #expect(unknown?.kind == .unknownAccount)
        #expect(try store.status().runs.isEmpty)
        var seen = 0
        try store.results(run: nil) { _ in seen += 1 }
        #expect(seen == 0)
    }

    func resultsInRunAndCallOrder() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        let runs = try store.enqueue([
            RunToEnqueue(run: Self.run("one", "acct"), produceCalls: Self.calls(2)),
            RunToEnqueue(run: Self.run("two", "acct"), produceCalls: Self.calls(3)),
        ])
        var all: [ResultRecord] = []
        try store.results(run: nil) { all.append($0) }
        #expect(all.map(\.path) == ["/api/v1/orders/0", "/api/v1/orders/1", "/api/v1/orders/0", "/api/v1/orders/1",
                                    "/api/v1/orders/2"])
        #expect(all[1].params == #"{"symbol":"BTC-USDT","n":1}"#)
        #expect(all.allSatisfy { $0.state == .queued && $0.attempts == 0 && $0.finishedAtMilliseconds == nil })
        var second: [ResultRecord] = []
        try store.results(run: runs[1].run) { second.append($0) }
        #expect(second.map(\.run) == [runs[1].run, runs[1].run, runs[1].run])
        #expect(second.map(\.job) == ["two", "two", "two"])
    }

    func removingAnAccountWithRunsNeedsPurge() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("one", "acct"), produceCalls: Self.calls(2))])
        let refused = #expect(throws: StoreError.self) { try store.removeAccount(named: "acct", purgeRuns: false) }
        #expect(refused?.kind == .accountInUse)
        #expect(try store.status().runs.count == 1)
        try store.removeAccount(named: "acct", purgeRuns: true)
        #expect(try store.status().runs.isEmpty)
        #expect(try store.accounts().isEmpty)
    }

    /// The provider's window does not empty when an account is removed here: re-added under the same name (the
    /// same key), it finds the tokens it spent still held until their window has passed.
    func aRemovedAccountsSpendsHoldUntilTheirWindowPasses() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 1)
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        guard case .spent(let id, _) = try store.reserve(account: "acct", weight: 3, owner: "r1", now: { 100 },
                                                      windowMilliseconds: 1_000, configuredCount: 3) else {
            Issue.record("an empty bucket must grant a reservation"); return
        }
        try store.settle(spend: id, answeredAt: 150)
        try store.removeAccount(named: "acct", purgeRuns: true)
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 200)
        #expect(try store.pacing(account: "acct", nowMilliseconds: 200, windowMilliseconds: 1_000, configuredCount: 3)
                .spentInWindow == 3)
        #expect(try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 200 }, windowMilliseconds: 1_000,
                                  configuredCount: 3) == .wait(until: 1_150))
    }

    // MARK: Runner

    static func calls(_ n: Int, idempotent: Bool, weight: Int = 1) -> (_ emit: (NewCall) throws -> Void) throws -> Void {
        { emit in
            for i in 0..<n {
                try emit(NewCall(index: i, method: .post, path: "/p/\(i)", params: "{}", body: nil, weight: weight,
                                 idempotent: idempotent))
            }
        }
    }

    func storeWithCalls(_ n: Int, idempotent: Bool = true, weight: Int = 1) throws -> any PacerStore {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("j", "acct"), produceCalls: Self.calls(n, idempotent: idempotent, weight: weight))])
        for r in ["r1", "r2"] { try store.registerRunner(RunnerIdentity(id: r, host: "h", pid: 1), now: { 0 }) }
        return store
    }

    func claimsAreExclusive() throws {
        let store = try storeWithCalls(10)
        let a = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 1, leaseUntil: 30_000, max: 4)
        let b = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 1, leaseUntil: 30_000, max: 100)
        #expect(a.count == 4)
        #expect(b.count == 6)
        #expect(Set(a.map(\.id)).isDisjoint(with: b.map(\.id)))
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 1, leaseUntil: 30_000, max: 4).isEmpty)
        #expect(a[0].retry == .default && a[0].attempts == 0 && a[0].method == .post)
    }

    /// A runner claims for all its accounts in one transaction: each request gets its own account's calls (at
    /// most its `max`) and clock offset, a paused account and an unknown one get nothing, and none of it is
    /// affected by the others in the batch.
    func oneClaimServesSeveralAccounts() throws {
        let store = try storeWithCalls(5)
        for name in ["b", "paused"] {
            try store.addAccount(Self.account(name), replace: false, nowMilliseconds: 0)
            _ = try store.enqueue([RunToEnqueue(run: Self.run("j-\(name)", name), produceCalls: Self.calls(3))])
        }
        try store.pauseAccount("paused", reason: "auth", nowMilliseconds: 0)
        try store.setClockOffset(account: "b", milliseconds: 1_250)
        let batches = try store.claim([ClaimRequest(account: "acct", max: 4), ClaimRequest(account: "paused", max: 9),
                                       ClaimRequest(account: "b", max: 9), ClaimRequest(account: "nobody", max: 9)],
                                      runner: "r1", nowMilliseconds: 1, leaseUntil: 30_000)
        #expect(batches.map(\.calls.count) == [4, 0, 3, 0])
        #expect(batches[0].calls.allSatisfy { $0.account == "acct" } && batches[2].calls.allSatisfy { $0.account == "b" })
        #expect(batches.map(\.clockOffsetMilliseconds) == [0, 0, 1_250, 0])
        // `acct` filled its count and has one more; `b` was emptied, and the others had nothing to give.
        #expect(batches.map(\.mayHaveMore) == [true, false, false, false])
        // The fifth call of `acct` is still there for the next claim; `b` has nothing left.
        #expect(try store.claim(account: "acct", runner: "r2", nowMilliseconds: 1, leaseUntil: 30_000, max: 9).count == 1)
        #expect(try store.claim(account: "b", runner: "r2", nowMilliseconds: 1, leaseUntil: 30_000, max: 9).isEmpty)
        // A runner not registered claims nothing for anyone.
        #expect(throws: StoreError.self) {
            try store.claim([ClaimRequest(account: "acct", max: 9)], runner: "ghost", nowMilliseconds: 1, leaseUntil: 30_000)
        }
    }

    /// A call that failed keeps its place: once due, it is claimed before calls never tried, even ones queued
    /// before it; a retry not yet due is left alone.
    func dueRetriesAreClaimedFirst() throws {
        let store = try storeWithCalls(6)
        let first = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
        #expect(first.count == 2)
        let ids = first.map(\.id)
        // The first was refused (a rate limit uses no attempt), the second failed.
        try store.complete(zip(ids, [(500, "rate-limited", 0), (5_000, "transient", 1)] as [(Int64, String, Int)]).map {
            Completion(call: $0, runner: "r1", startedAt: 0, latencyMilliseconds: 0, httpStatus: 500, code: nil,
                       classification: $1.1, message: nil, state: .retrying, attempts: $1.2, nextAttemptAt: $1.0,
                       data: nil, error: nil, finishedAt: 0)
        })
        // At 1 s: the due retry, then the oldest call never tried; the retry due at 5 s waits.
        // Claimed first, it also comes first in the batch: the runner spends from the front.
        var second = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 1_000, leaseUntil: 30_000, max: 2)
        #expect(second.map(\.id) == [ids[0], ids.max()! + 1])
        // Given back unsent, the refused call keeps its place though it used no attempt.
        try store.release(second.map(\.id), runner: "r1")
        second = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 1_000, leaseUntil: 30_000, max: 2)
        #expect(second.map(\.id) == [ids[0], ids.max()! + 1])
        #expect(second.first?.attempts == 0)
        // At 6 s the second retry is due and comes first, with the rest.
        let third = try store.claim([ClaimRequest(account: "acct", max: 9)], runner: "r1", nowMilliseconds: 6_000,
                                    leaseUntil: 30_000)[0]
        #expect(third.calls.count == 4 && third.calls.first?.id == ids[1])
        // A claim short of its count took everything: nothing more may be due, and indeed nothing is.
        #expect(!third.mayHaveMore)
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 6_000, leaseUntil: 30_000, max: 9).isEmpty)
    }

    func spendsRespectTheWindowAndLeases() throws {
        let store = try storeWithCalls(8)
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 8)
        let all = claimed.map { (id: $0.id, weight: 1) }
        // Limit 5 per 1000 ms: five go now, the sixth must wait for the first to return.
        let first = try store.spend(account: "acct", calls: all, runner: "r1", now: { 100 },
                                    windowMilliseconds: 1_000, configuredCount: 5)
        #expect(first.granted == Array(all.prefix(5).map(\.id)))
        #expect(first.retryAt == 150) // all five still open: look again soon
        // Answered at once: the tokens return a window after the answer.
        try store.complete(claimed.prefix(5).map {
            Completion(call: $0.id, runner: "r1", startedAt: 100, latencyMilliseconds: 0, httpStatus: 200, code: "0",
                       classification: "ok", message: nil, state: .succeeded, attempts: 1, nextAttemptAt: 0,
                       data: nil, error: nil, finishedAt: 100)
        })
        #expect(try store.spend(account: "acct", calls: Array(all.suffix(3)), runner: "r1", now: { 1_099 },
                                windowMilliseconds: 1_000, configuredCount: 5).retryAt == 1_100)
        // Another runner cannot dispatch calls it does not hold.
        let stolen = try store.spend(account: "acct", calls: Array(all.suffix(3)), runner: "r2", now: { 1_100 },
                                     windowMilliseconds: 1_000, configuredCount: 5)
        #expect(stolen.granted.isEmpty && stolen.lost.count == 3)
        let later = try store.spend(account: "acct", calls: Array(all.suffix(3)), runner: "r1", now: { 1_100 },
                                    windowMilliseconds: 1_000, configuredCount: 5)
        #expect(later.granted.count == 3)
        #expect(try store.pacing(account: "acct", nowMilliseconds: 1_100, windowMilliseconds: 1_000, configuredCount: 5)
                .spentInWindow == 3)
    }

    /// One spend over several accounts, one of them twice: each account against its own window, and the second
    /// request of an account sees the first one's calls as spent (they are written with the batch).
    func oneSpendServesSeveralAccounts() throws {
        let store = try storeWithCalls(6)
        try store.addAccount(Self.account("b"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("j-b", "b"), produceCalls: Self.calls(3))])
        let mine = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 6)
            .map { (id: $0.id, weight: 1) }
        let theirs = try store.claim(account: "b", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 3)
            .map { (id: $0.id, weight: 1) }
        let grants = try store.spend([
            SpendRequest(account: "acct", calls: Array(mine.prefix(3)), windowMilliseconds: 1_000, configuredCount: 5),
            SpendRequest(account: "b", calls: theirs, windowMilliseconds: 1_000, configuredCount: 5),
            SpendRequest(account: "acct", calls: Array(mine.suffix(3)), windowMilliseconds: 1_000, configuredCount: 5),
        ], runner: "r1", now: { 100 })
        #expect(grants.map(\.granted.count) == [3, 3, 2])
        #expect(grants.map(\.retryAt) == [nil, nil, 150]) // the five are still open: look again soon
        #expect(grants.allSatisfy { $0.at == 100 && $0.lost.isEmpty })
        for (account, spent) in [("acct", 5), ("b", 3)] {
            #expect(try store.pacing(account: account, nowMilliseconds: 100, windowMilliseconds: 1_000,
                                     configuredCount: 5).spentInWindow == spent)
        }
    }

    func reservationsShareTheBucket() throws {
        let store = try storeWithCalls(1)
        var spends: [Int64] = []
        for t in 0..<Int64(5) {
            guard case .spent(let id, _) = try store.reserve(account: "acct", weight: 1, owner: "r1", now: { t },
                                                          windowMilliseconds: 1_000, configuredCount: 5) else {
                Issue.record("reservation \(t) refused"); return
            }
            spends.append(id)
            try store.settle(spend: id, answeredAt: t)
        }
        #expect(try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 10 }, windowMilliseconds: 1_000,
                                  configuredCount: 5) == .wait(until: 1_000))
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 10, leaseUntil: 30_000, max: 1)
        let grant = try store.spend(account: "acct", calls: claimed.map { ($0.id, 1) }, runner: "r1", now: { 10 },
                                    windowMilliseconds: 1_000, configuredCount: 5)
        #expect(grant.granted.isEmpty && grant.retryAt == 1_000)
    }

    /// A refusal's fill is what the window held before the refused call, by spend order: a call spent ahead of it
    /// in the same batch counts, one after it does not. An isolated refusal cools down; one at less than half the
    /// capacity is never evidence; three at the same substantial fill are learned.
    func rateLimitsCoolTheAccountDown() throws {
        let store = try storeWithCalls(8)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 8)
        _ = try store.spend(account: "acct", calls: c.map { ($0.id, 1) }, runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 8)
        func refused(_ call: ClaimedCall, at now: Int64, retryAfter: Int64? = nil) throws -> Pacing {
            try store.recordRateLimit(account: "acct", call: call.id, runner: "r1", sentAt: 0, nowMilliseconds: now,
                                      retryAfterMilliseconds: retryAfter, windowMilliseconds: 1_000, configuredCount: 8)
            return try store.pacing(account: "acct", nowMilliseconds: now, windowMilliseconds: 1_000, configuredCount: 8).pacing
        }
        var pacing = try refused(c[4], at: 10, retryAfter: 2_000)     // c[0]...c[3] left before it
        #expect(pacing.ceiling == nil && pacing.candidateFill == 4 && pacing.cooldownUntil == 2_010)
        let blocked = try store.spend(account: "acct", calls: [], runner: "r1", now: { 500 },
                                      windowMilliseconds: 1_000, configuredCount: 8)
        #expect(blocked.granted.isEmpty)
        pacing = try refused(c[1], at: 20)                            // fill 1 of 8: never evidence
        #expect(pacing.candidateFill == 4 && pacing.olderCandidateFill == nil)
        pacing = try refused(c[5], at: 30)
        #expect(pacing.ceiling == nil && pacing.candidateFill == 5 && pacing.olderCandidateFill == 4)
        pacing = try refused(c[4], at: 40)                            // a third at about 4: a limit
        #expect(pacing.ceiling == 4 && pacing.strikes == 1)
    }

    /// A cool-down after noise is half-open: one claimed call may be spent as its probe (one, across runners),
    /// and the probe's acceptance ends the cool-down for everyone.
    func aCoolDownsProbeEndsIt() throws {
        let store = try storeWithCalls(6)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 6)
        func spend(_ calls: ArraySlice<ClaimedCall>, at now: Int64) throws -> SpendGrant {
            try store.spend(account: "acct", calls: calls.map { ($0.id, 1) }, runner: "r1", now: { now },
                            windowMilliseconds: 1_000, configuredCount: 10)
        }
        #expect(try spend(c[0..<2], at: 0).granted.count == 2)
        // The provider took 10 lately, so a refusal at fill 1 is noise.
        try store.recordRateLimit(account: "acct", call: c[1].id, runner: "r1", sentAt: 0, nowMilliseconds: 10,
                                  retryAfterMilliseconds: nil, windowMilliseconds: 1_000, configuredCount: 10,
                                  accepted: AcceptedPeak.Evidence(peak: 10, window: 1))
        let early = try spend(c[2...], at: 50)
        #expect(early.granted.isEmpty && early.retryAt == 110 && !early.probe)
        let probe = try spend(c[2...], at: 110)
        #expect(probe.granted == [c[2].id] && probe.probe && probe.retryAt == 1_000)
        let meanwhile = try spend(c[3...], at: 120)
        #expect(meanwhile.granted.isEmpty && meanwhile.retryAt == 220) // looks again while the probe is out
        try store.probeAccepted(account: "acct", call: c[3].id, nowMilliseconds: 125, configuredCount: 10) // not it
        #expect(try spend(c[3...], at: 125).granted.isEmpty)
        try store.probeAccepted(account: "acct", call: c[2].id, nowMilliseconds: 130, configuredCount: 10)
        #expect(try spend(c[3...], at: 130).granted == c[3...].map(\.id))
    }

    /// Whether a refusal is noise is weighed against every runner's settled answers too (here the refusals
    /// carry no evidence of their own): a window lately fuller than the refused call's fill shows the provider had
    /// room, so a probe opens. Refused, unsent and failed tries do not count as accepted.
    func settledAnswersShowARefusalWasNoise() throws {
        let store = try storeWithCalls(16)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 16)
        func spend(_ calls: ArraySlice<ClaimedCall>, at now: Int64) throws -> Int {
            try store.spend(account: "acct", calls: calls.map { ($0.id, 1) }, runner: "r1", now: { now },
                            windowMilliseconds: 1_000, configuredCount: 10).granted.count
        }
        func answer(_ calls: ArraySlice<ClaimedCall>, _ classification: String, at now: Int64) throws {
            try store.complete(calls.map {
                Completion(call: $0.id, runner: "r1", startedAt: now, latencyMilliseconds: 0, httpStatus: 200,
                           code: "0", classification: classification, message: nil,
                           state: classification == "ok" ? .succeeded : .retrying, attempts: 1, nextAttemptAt: 0,
                           data: nil, error: nil, finishedAt: now)
            })
        }
        func refuse(_ call: ClaimedCall, sentAt: Int64, at now: Int64) throws -> Pacing {
            try store.recordRateLimit(account: "acct", call: call.id, runner: "r1", sentAt: sentAt, nowMilliseconds: now,
                                      retryAfterMilliseconds: nil, windowMilliseconds: 1_000, configuredCount: 10)
            return try store.pacing(account: "acct", nowMilliseconds: now, windowMilliseconds: 1_000,
                                    configuredCount: 10).pacing
        }
        #expect(try spend(c[0..<10], at: 0) == 10)
        try answer(c[0..<5], "ok", at: 5)
        try answer(c[5..<7], "rate-limited", at: 5)
        try answer(c[7..<8], "not-sent", at: 5)
        try answer(c[8..<10], "transient", at: 5)
        #expect(try spend(c[10..<16], at: 1_100) == 6)
        // Five accepted in the last window, the 6th refused now: consistent with a limit of 5, not noise.
        #expect(try refuse(c[15], sentAt: 1_100, at: 1_110).probeAt == 0)
        // Four of this window accepted; c[12], held up on its way, refused much later: the provider took 4 of the
        // last window and this call met an empty one. Noise, and long after the last refusal: a probe opens.
        try answer(c[10..<12], "ok", at: 1_105)
        try answer(c[13..<15], "ok", at: 1_105)
        let pacing = try refuse(c[12], sentAt: 2_390, at: 2_400)
        #expect(pacing.nextProbe(after: 2_450) == 2_500 && pacing.cooldownUntil == 3_390)
    }

    /// A refusal's fill counts the spends *sent* in the window before it: one sent earlier and answered late (its
    /// token held a window from the answer) is gone from the provider's count.
    func aRefusalsFillCountsBySend() throws {
        let store = try storeWithCalls(5)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 5)
        _ = try store.spend(account: "acct", calls: c[0..<4].map { ($0.id, 1) }, runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 8)
        try store.complete(c[0..<4].map {
            Completion(call: $0.id, runner: "r1", startedAt: 0, latencyMilliseconds: 600, httpStatus: 200, code: "0",
                       classification: "ok", message: nil, state: .succeeded, attempts: 1, nextAttemptAt: 0,
                       data: nil, error: nil, finishedAt: 600)
        })
        #expect(try store.spend(account: "acct", calls: [(c[4].id, 1)], runner: "r1", now: { 1_100 },
                                windowMilliseconds: 1_000, configuredCount: 8).granted == [c[4].id])
        try store.recordRateLimit(account: "acct", call: c[4].id, runner: "r1", sentAt: 1_100, nowMilliseconds: 1_110,
                                  retryAfterMilliseconds: 100, windowMilliseconds: 1_000, configuredCount: 8)
        // Counted by answer, 4 of 8 would be a candidate; sent before the window, they are not counted.
        let pacing = try store.pacing(account: "acct", nowMilliseconds: 1_110, windowMilliseconds: 1_000,
                                      configuredCount: 8).pacing
        #expect(pacing.candidateFill == nil && pacing.ceiling == nil && pacing.cooldownUntil == 1_210)
    }

    /// The provider's own count: a stated limit below ours is the ceiling; less left than we think is held as
    /// spent until its reset.
    func providerQuotasAreFollowed() throws {
        let store = try storeWithCalls(1)
        try store.recordQuota(account: "acct", ProviderQuota(limit: 30, remaining: 30, resetMilliseconds: 1_000),
                              nowMilliseconds: 0, windowMilliseconds: 1_000, configuredCount: 50)
        var pacing = try store.pacing(account: "acct", nowMilliseconds: 0, windowMilliseconds: 1_000, configuredCount: 50)
        #expect(pacing.pacing.capacity(now: 0, windowMilliseconds: 1_000) == 30 && pacing.spentInWindow == 0)
        // Another client used 20 of the 30: we think 30 are left, the provider says 10, for 400 ms more.
        try store.recordQuota(account: "acct", ProviderQuota(limit: 30, remaining: 10, resetMilliseconds: 400),
                              nowMilliseconds: 100, windowMilliseconds: 1_000, configuredCount: 50)
        pacing = try store.pacing(account: "acct", nowMilliseconds: 100, windowMilliseconds: 1_000, configuredCount: 50)
        #expect(pacing.spentInWindow == 20)
        pacing = try store.pacing(account: "acct", nowMilliseconds: 500, windowMilliseconds: 1_000, configuredCount: 50)
        #expect(pacing.spentInWindow == 0)
        // Saying the same again changes nothing (our view already holds the difference).
        try store.recordQuota(account: "acct", ProviderQuota(limit: 30, remaining: 10, resetMilliseconds: 400),
                              nowMilliseconds: 100, windowMilliseconds: 1_000, configuredCount: 50)
        pacing = try store.pacing(account: "acct", nowMilliseconds: 100, windowMilliseconds: 1_000, configuredCount: 50)
        #expect(pacing.spentInWindow == 20)
    }

    func completionsMoveCallsOnAndKeepResults() throws {
        let store = try storeWithCalls(3)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 3)
        func done(_ call: ClaimedCall, _ state: CallState, runner: String = "r1", next: Int64 = 0) -> Completion {
            Completion(call: call.id, runner: runner, startedAt: 1, latencyMilliseconds: 5, httpStatus: 200, code: "0",
                       classification: state == .succeeded ? "ok" : "transient", message: nil, state: state,
                       attempts: 1, nextAttemptAt: next, data: #"{"x":1}"#, error: nil, finishedAt: 9)
        }
        try store.complete([done(c[0], .succeeded), done(c[1], .retrying, next: 5_000), done(c[2], .failed, runner: "r2")])
        var records: [ResultRecord] = []
        try store.results(run: nil) { records.append($0) }
        #expect(records.map(\.state) == [.succeeded, .retrying, .inFlight]) // r2 held no lease on the third
        #expect(records[0].data == #"{"x":1}"#)
        #expect(records[0].httpStatus == 200 && records[0].attempts == 1 && records[0].finishedAtMilliseconds == 9)
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 4_999, leaseUntil: 30_000, max: 3).isEmpty)
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 5_000, leaseUntil: 30_000, max: 3).count == 1)
    }

    func summariesCountCodesAndListFailures() throws {
        let store = try storeWithCalls(4)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 4)
        func done(_ call: ClaimedCall, _ state: CallState, _ code: String, latency: Int64) -> Completion {
            Completion(call: call.id, runner: "r1", startedAt: 1, latencyMilliseconds: latency, httpStatus: 200, code: code,
                       classification: state == .succeeded ? "ok" : "permanent", message: nil, state: state, attempts: 1,
                       nextAttemptAt: 0, data: nil, error: state == .succeeded ? nil : "refused", finishedAt: 2)
        }
        try store.complete([done(c[0], .succeeded, "0", latency: 5), done(c[1], .succeeded, "0", latency: 50),
                            done(c[2], .failed, "10006", latency: 7), done(c[3], .dead, "10003", latency: 9)])
        let s = try store.resultSummary(run: nil, slowest: 2, failures: 1)
        #expect(s.byCode.first == .init(state: .succeeded, code: "0", calls: 2))
        #expect(s.byCode.count == 3)
        #expect(s.slowest.map(\.latencyMilliseconds) == [50, 9])
        #expect(s.failureCount == 2)
        #expect(s.failures.map(\.code) == ["10006"])
        #expect(s.failures.first?.error == "refused")
        #expect(try store.finishedSince(1) == ["acct": 4])
        #expect(try store.finishedSince(2).isEmpty)
    }

    func deadRunnersCallsAreRecovered() throws {
        for idempotent in [true, false] {
            let store = try storeWithCalls(2, idempotent: idempotent)
            let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
            _ = try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r1", now: { 0 },
                                windowMilliseconds: 1_000, configuredCount: 50) // c[0] left; c[1] never did
            let recovery = try store.recoverAbandoned(now: { 100 }) { record, _ in record.identity.id == "r1" }
            #expect(recovery.deadRunners == ["r1"])
            var states: [CallState] = []
            try store.results(run: nil) { states.append($0.state) }
            // The abandoned try counts: the idempotent call is retried as its second attempt.
            #expect(states == (idempotent ? [.retrying, .queued] : [.uncertain, .queued]))
            #expect(recovery.uncertain == (idempotent ? 0 : 1))
            // A live runner's calls are left alone.
            let live = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 200, leaseUntil: 30_000, max: 2)
            _ = try store.recoverAbandoned(now: { 300 }) { _, _ in false }
            #expect(try store.claim(account: "acct", runner: "r2", nowMilliseconds: 300, leaseUntil: 30_000, max: 2).isEmpty)
            #expect(!live.isEmpty)
        }
    }

    func pausedAccountsAreNotClaimedAndShowInTheSnapshot() throws {
        let store = try storeWithCalls(2)
        try store.pauseAccount("acct", reason: "auth error 40001", nowMilliseconds: 0)
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 1, max: 9).isEmpty)
        let snapshot = try store.snapshot(accounts: nil)
        #expect(snapshot.unfinished == ["acct": 2])
        #expect(snapshot.paused == ["acct": "auth error 40001"])
        #expect(snapshot.workable == 0 && snapshot.heldByPaused == 2)
        #expect(try store.status().accounts[0].pausedReason == "auth error 40001")
        try store.resumeAccount("acct")
        #expect(try store.snapshot(accounts: nil).workable == 2)
    }

    // MARK: Guarantees under adversity

    /// Limit 2 per 1000 ms. A spend whose answer has not come holds its token however old it is (a request still
    /// travelling has not been counted by the provider yet); once answered, the token returns a window after the
    /// answer. Trimming never drops an open spend.
    func unansweredSpendsHoldTheirTokens() throws {
        let store = try storeWithCalls(4)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 4)
        let first = try store.spend(account: "acct", calls: c.prefix(2).map { ($0.id, 1) }, runner: "r1", now: { 0 },
                                    windowMilliseconds: 1_000, configuredCount: 2)
        #expect(first.granted.count == 2)
        // Five windows later neither request has been answered: both tokens are still spent.
        for t in stride(from: Int64(1_000), through: 5_000, by: 500) {
            let grant = try store.spend(account: "acct", calls: [(c[2].id, 1)], runner: "r1", now: { t },
                                        windowMilliseconds: 1_000, configuredCount: 2)
            #expect(grant.granted.isEmpty, "a token came back at \(t) although its request was never answered")
        }
        #expect(try store.pacing(account: "acct", nowMilliseconds: 5_000, windowMilliseconds: 1_000, configuredCount: 2)
                .spentInWindow == 2)
        // The first answer arrives at 6 000: its token returns at 7 000, not before.
        try store.complete([Completion(call: c[0].id, runner: "r1", startedAt: 0, latencyMilliseconds: 6_000,
                                       httpStatus: 200, code: "0", classification: "ok", message: nil,
                                       state: .succeeded, attempts: 1, nextAttemptAt: 0, data: nil, error: nil,
                                       finishedAt: 6_000)])
        let early = try store.spend(account: "acct", calls: [(c[2].id, 1)], runner: "r1", now: { 6_999 },
                                    windowMilliseconds: 1_000, configuredCount: 2)
        #expect(early.granted.isEmpty && early.retryAt != nil)
        let onTime = try store.spend(account: "acct", calls: [(c[2].id, 1)], runner: "r1", now: { 7_000 },
                                     windowMilliseconds: 1_000, configuredCount: 2)
        #expect(onTime.granted == [c[2].id])
    }

    /// `pacer call`'s reservations follow the same rule: held until settled, then a window after the answer.
    func reservationsHoldUntilSettled() throws {
        let store = try storeWithCalls(0)
        guard case .spent(let id, _) = try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 0 },
                                                      windowMilliseconds: 1_000, configuredCount: 1) else {
            Issue.record("refused"); return
        }
        // Nine windows later, still unanswered: refused, and asked to look again soon (the answer may come any time).
        #expect(try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 9_000 }, windowMilliseconds: 1_000,
                                  configuredCount: 1) == .wait(until: 9_050))
        try store.settle(spend: id, answeredAt: 9_500)
        #expect(try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 10_000 }, windowMilliseconds: 1_000,
                                  configuredCount: 1) == .wait(until: 10_500))
        #expect(try store.reserve(account: "acct", weight: 1, owner: "r1", now: { 10_500 }, windowMilliseconds: 1_000,
                                  configuredCount: 1) == .spent(id: id + 1))
    }

    /// When a runner is found dead, its open spends are settled at that moment (its answers will never be
    /// recorded), and its late completion cannot settle the spend of the runner that took the call over.
    func recoverySettlesADeadRunnersSpends() throws {
        let store = try storeWithCalls(1)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 1)
        _ = try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 1)
        _ = try store.recoverAbandoned(now: { 3_000 }) { record, _ in record.identity.id == "r1" }
        let again = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 3_000, leaseUntil: 30_000, max: 1)
        #expect(again.map(\.id) == [c[0].id])
        // Settled at the verdict plus the grace for a request still leaving r1's HTTP client.
        let settledAt = 3_000 + WindowBudget.deadOwnerGraceMilliseconds
        let blocked = try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r2", now: { settledAt + 999 },
                                      windowMilliseconds: 1_000, configuredCount: 1)
        #expect(blocked.granted.isEmpty && blocked.retryAt == settledAt + 1_000)
        _ = try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r2", now: { settledAt + 1_000 },
                            windowMilliseconds: 1_000, configuredCount: 1)
        // r1 wakes up and reports its old answer: ignored, and r2's spend stays open.
        try store.complete([Completion(call: c[0].id, runner: "r1", startedAt: 0, latencyMilliseconds: 1,
                                       httpStatus: 200, code: "0", classification: "ok", message: nil,
                                       state: .succeeded, attempts: 1, nextAttemptAt: 0, data: nil, error: nil,
                                       finishedAt: 4_100)])
        #expect(try store.pacing(account: "acct", nowMilliseconds: settledAt + 9_000, windowMilliseconds: 1_000,
                                 configuredCount: 1).spentInWindow == 1)
    }

    /// A runner declared dead can neither claim nor spend, and its heartbeat says so, until it registers again.
    func aRunnerDeclaredDeadIsFenced() throws {
        let store = try storeWithCalls(2)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 1)
        #expect(try store.heartbeat(runner: "r1", now: { 10 }, leaseMilliseconds: 30_000) == 10)
        _ = try store.recoverAbandoned(now: { 6_000 }) { record, _ in record.identity.id == "r1" }
        #expect(try store.heartbeat(runner: "r1", now: { 6_100 }, leaseMilliseconds: 30_000) == nil)
        let claim = #expect(throws: StoreError.self) {
            try store.claim(account: "acct", runner: "r1", nowMilliseconds: 6_100, leaseUntil: 30_000, max: 1)
        }
        #expect(claim?.kind == .runnerDeclaredDead)
        let spend = #expect(throws: StoreError.self) {
            try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r1", now: { 6_100 },
                            windowMilliseconds: 1_000, configuredCount: 5)
        }
        #expect(spend?.kind == .runnerDeclaredDead)
        try store.registerRunner(RunnerIdentity(id: "r1b", host: "h", pid: 1), now: { 6_200 })
        #expect(try store.claim(account: "acct", runner: "r1b", nowMilliseconds: 6_200, leaseUntil: 30_000, max: 9).count == 2)
    }

    /// A try abandoned by a dead runner counts as an attempt: a call that kills its runner every time ends `dead`
    /// after its allowed attempts instead of being retried forever. The recovery's `now` is read inside it.
    func abandonedTriesCountAsAttempts() throws {
        let store = try storeWithCalls(1) // retry: .default allows RetryPolicy.default.attempts tries
        let allowed = RetryPolicy.default.attempts
        var t: Int64 = 0
        for round in 1...allowed {
            let runner = "killer\(round)"
            try store.registerRunner(RunnerIdentity(id: runner, host: "h", pid: 1), now: { t })
            let c = try store.claim(account: "acct", runner: runner, nowMilliseconds: t, leaseUntil: t + 30_000, max: 1)
            #expect(c.count == 1 && c.first?.attempts == round - 1, "round \(round)")
            _ = try store.spend(account: "acct", calls: c.map { ($0.id, 1) }, runner: runner, now: { t },
                                windowMilliseconds: 1_000, configuredCount: 50)
            t += 10_000
            let recovery = try store.recoverAbandoned(now: { t }) { record, _ in record.identity.id == runner }
            #expect(recovery.dead == (round == allowed ? 1 : 0))
        }
        var records: [ResultRecord] = []
        try store.results(run: nil) { records.append($0) }
        #expect(records.map(\.state) == [.dead])
        #expect(records.first?.attempts == allowed)
        #expect(records.first?.error?.contains("last allowed attempt") == true)
    }

    /// A live runner's calls are never taken from it because its lease looks old by the clock (a heartbeat that
    /// waited for the write lock): only a runner judged dead loses its calls.
    func aLiveRunnersExpiredLeaseIsNotTaken() throws {
        let store = try storeWithCalls(1)
        _ = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 1_000, max: 1)
        let recovery = try store.recoverAbandoned(now: { 60_000 }) { _, _ in false }
        #expect(recovery.requeued == 0)
        #expect(try store.claim(account: "acct", runner: "r2", nowMilliseconds: 60_000, leaseUntil: 90_000, max: 1).isEmpty)
    }

    /// A runner found dead that comes back with a real answer: the attempt is recorded, and a call that recovery
    /// left `uncertain` (or queued and not yet sent again) takes that answer as its outcome.
    func lateAnswersAreKept() throws {
        let store = try storeWithCalls(2, idempotent: false)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
        _ = try store.spend(account: "acct", calls: c.map { ($0.id, 1) }, runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 50)
        let recovery = try store.recoverAbandoned(now: { 6_000 }) { record, _ in record.identity.id == "r1" }
        #expect(recovery.uncertain == 2)
        func answer(_ call: ClaimedCall, _ state: CallState, status: Int?) -> Completion {
            Completion(call: call.id, runner: "r1", startedAt: 0, latencyMilliseconds: 6_500, httpStatus: status,
                       code: status == nil ? nil : "200000", classification: state == .succeeded ? "ok" : "no-answer",
                       message: nil, state: state, attempts: 1, nextAttemptAt: 0, data: #"{"orderId":"o1"}"#,
                       error: nil, finishedAt: 6_500)
        }
        try store.complete([answer(c[0], .succeeded, status: 200), answer(c[1], .uncertain, status: nil)])
        var records: [ResultRecord] = []
        try store.results(run: nil) { records.append($0) }
        #expect(records.map(\.state) == [.succeeded, .uncertain])
        #expect(records[0].data == #"{"orderId":"o1"}"#)
        let summary = try store.resultSummary(run: nil, slowest: 5, failures: 5)
        #expect(summary.slowest.contains { $0.latencyMilliseconds == 6_500 }) // the late try is recorded
    }

    /// `hasWork` and `nextDue` (what `--drain` and the wake board ask): paused accounts' calls do not count, the
    /// account filter applies, in-flight calls count, and each account's earliest due instant is reported.
    func workAndDueInstants() throws {
        let store = try makeStore()
        for name in ["a", "b", "c"] { try store.addAccount(Self.account(name), replace: false, nowMilliseconds: 0) }
        #expect(try store.hasWork(accounts: nil) == false)
        #expect(try store.nextDue().isEmpty)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("ja", "a"), produceCalls: Self.calls(3)),
                               RunToEnqueue(run: Self.run("jb", "b"), produceCalls: Self.calls(2))])
        #expect(try store.hasWork(accounts: nil))
        #expect(try store.hasWork(accounts: ["c"]) == false)
        #expect(try store.hasWork(accounts: ["b", "c"]))
        #expect(try store.nextDue() == ["a": 0, "b": 0])
        try store.pauseAccount("a", reason: "auth", nowMilliseconds: 0)
        #expect(try store.nextDue() == ["b": 0])
        #expect(try store.hasWork(accounts: ["a"]) == false)
        // b's calls leave the queue (claimed): still work, but nothing left to wake for.
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim(account: "b", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 9)
        #expect(try store.nextDue().isEmpty)
        #expect(try store.hasWork(accounts: nil))
        // Answered: one is done, one comes back due later.
        try store.complete(claimed.enumerated().map { i, call in
            Completion(call: call.id, runner: "r1", startedAt: 0, latencyMilliseconds: 1, httpStatus: 200, code: "0",
                       classification: i == 0 ? "ok" : "transient", message: nil, state: i == 0 ? .succeeded : .retrying,
                       attempts: 1, nextAttemptAt: 7_000, data: nil, error: nil, finishedAt: 1)
        })
        #expect(try store.nextDue() == ["b": 7_000])
        try store.resumeAccount("a")
        #expect(try store.nextDue() == ["a": 0, "b": 7_000])
    }

    // MARK: Keys

    /// Orders with a `{{key}}`: `keyed` ones in the provider's dedupe field, one unkeyed (`k-free`).
    static func orders(_ keys: [String?], keyed: Bool) -> (_ emit: (NewCall) throws -> Void) throws -> Void {
        { emit in
            for (i, key) in keys.enumerated() {
                try emit(NewCall(index: i, method: .post, path: "/api/v1/orders", params: #"{"clientOid":"\#(key ?? "")"}"#,
                                 body: nil, weight: 1, idempotent: false, key: key, keyed: keyed && key != nil))
            }
        }
    }

    /// The key is stored with the call and handed to every runner that claims it; keys are unique in the store.
    func keysAreStoredWithTheCallAndUnique() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("j", "acct"), produceCalls: Self.orders(["k1", "k2", nil], keyed: true))])
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 9)
        #expect(claimed.map(\.key) == ["k1", "k2", nil])
        #expect(claimed.map(\.keyed) == [true, true, false])
        #expect(claimed.allSatisfy { $0.lookup == nil })
        var keys: [String?] = []
        try store.results(run: nil) { keys.append($0.key) }
        #expect(keys == ["k1", "k2", nil])
        // A second call with a key already in the store is refused, and nothing of that enqueue is kept.
        #expect(throws: (any Error).self) {
            _ = try store.enqueue([RunToEnqueue(run: Self.run("j2", "acct"), produceCalls: Self.orders(["k3", "k1"], keyed: true))])
        }
        var count = 0
        try store.results(run: nil) { _ in count += 1 }
        #expect(count == 3)
    }

    /// A keyed order whose runner died after sending is safe to send again: recovery puts it back in the queue
    /// (with its key), where an unkeyed one ends `uncertain`.
    func recoveryRequeuesKeyedOrders() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("j", "acct"), produceCalls: Self.orders(["k1", "k2"], keyed: true)),
                               RunToEnqueue(run: Self.run("j2", "acct"), produceCalls: Self.orders(["k3"], keyed: false))])
        for r in ["r1", "r2"] { try store.registerRunner(RunnerIdentity(id: r, host: "h", pid: 1), now: { 0 }) }
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 9)
        _ = try store.spend(account: "acct", calls: c.map { ($0.id, 1) }, runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 50)
        let recovery = try store.recoverAbandoned(now: { 100 }) { record, _ in record.identity.id == "r1" }
        #expect(recovery.uncertain == 1)
        var states: [String?: CallState] = [:]
        try store.results(run: nil) { states[$0.key] = $0.state }
        #expect(states == ["k1": .retrying, "k2": .retrying, "k3": .uncertain])
        // Looked up by key before being sent again, once a request the dead runner handed to its HTTP client can
        // no longer be on its way.
        let grace = WindowBudget.deadOwnerGraceMilliseconds
        #expect(try store.claim(account: "acct", runner: "r2", nowMilliseconds: 100 + grace - 1, leaseUntil: 30_000, max: 9).isEmpty)
        let again = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 100 + grace, leaseUntil: 30_000 + grace, max: 9)
        #expect(again.map(\.key) == ["k1", "k2"])
        #expect(again.allSatisfy { $0.lookup == .probe })
    }

    /// A completion can send a keyed call to be looked up by its key; the flag comes back with the claim and is
    /// cleared when the call ends.
    func lookupsAreRemembered() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("acct"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("j", "acct"), produceCalls: Self.orders(["k1"], keyed: true))])
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        func answer(_ call: ClaimedCall, _ state: CallState, lookup: LookupReason?, data: String? = nil) -> Completion {
            Completion(call: call.id, runner: "r1", startedAt: 0, latencyMilliseconds: 1, httpStatus: 400,
                       code: "400100", classification: "duplicate", message: "clientOid duplicated", state: state,
                       attempts: 0, nextAttemptAt: 0, data: data, error: nil, finishedAt: 1, lookup: lookup)
        }
        let first = try #require(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 1).first)
        try store.complete([answer(first, .retrying, lookup: .confirm)])
        let second = try #require(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 1, leaseUntil: 30_000, max: 1).first)
        #expect(second.lookup == .confirm && second.key == "k1" && second.attempts == 0)
        try store.complete([answer(second, .duplicate, lookup: nil, data: #"{"id":"o1"}"#)])
        var result: ResultRecord?
        try store.results(run: nil) { result = $0 }
        #expect(result?.state == .duplicate && result?.data == #"{"id":"o1"}"# && result?.key == "k1")
    }

    // MARK: Operating runs

    /// A run of 5 calls: succeeded, failed (code 10006), dead, uncertain, and one still queued.
    func storeWithFinishedCalls() throws -> (any PacerStore, run: Int64, calls: [ClaimedCall]) {
        let store = try storeWithCalls(5)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 4)
        func done(_ call: ClaimedCall, _ state: CallState, _ code: String?) -> Completion {
            Completion(call: call.id, runner: "r1", startedAt: 1, latencyMilliseconds: 5, httpStatus: 200, code: code,
                       classification: state == .succeeded ? "ok" : "permanent", message: "m", state: state,
                       attempts: 1, nextAttemptAt: 0, data: nil, error: state == .succeeded ? nil : "no", finishedAt: 10)
        }
        try store.complete([done(c[0], .succeeded, "0"), done(c[1], .failed, "10006"), done(c[2], .dead, nil),
                            done(c[3], .uncertain, nil)])
        return (store, c[0].run, c)
    }

    func callsArePagedAndShown() throws {
        let (store, run, c) = try storeWithFinishedCalls()
        let all = try store.calls(run: run, state: nil, code: nil, after: nil, limit: 10)
        #expect(all.map(\.state) == [.succeeded, .failed, .dead, .uncertain, .queued])
        let page = try store.calls(run: run, state: nil, code: nil, after: all[1].call, limit: 2)
        #expect(page.map(\.call) == [all[2].call, all[3].call])
        #expect(try store.calls(run: run, state: .failed, code: nil, after: nil, limit: 10).map(\.call) == [c[1].id])
        #expect(try store.calls(run: run, state: nil, code: "10006", after: nil, limit: 10).map(\.call) == [c[1].id])
        let missing = #expect(throws: StoreError.self) { _ = try store.calls(run: 999, state: nil, code: nil, after: nil, limit: 1) }
        #expect(missing?.kind == .notFound)

        let detail = try #require(try store.callDetail(c[1].id))
        #expect(detail.record.state == .failed && detail.record.code == "10006" && detail.record.error == "no")
        #expect(detail.attempts == [AttemptRecord(attempt: 1, runner: "r1", startedAt: 1, latencyMilliseconds: 5,
                                                  httpStatus: 200, code: "10006", classification: "permanent", message: "m")])
        #expect(try store.callDetail(999_999) == nil)
    }

    func retriesPutFinalCallsBackAndRefuseWhatTheyShouldNot() throws {
        let (store, run, c) = try storeWithFinishedCalls()
        // Still running (a call queued): refused, nothing changed.
        let running = #expect(throws: StoreError.self) { _ = try store.retry(run: run, states: [.failed], nowMilliseconds: 20) }
        #expect(running?.kind == .conflict)
        let last = try #require(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 1).first)
        try store.complete([Completion(call: last.id, runner: "r1", startedAt: 1, latencyMilliseconds: 1, httpStatus: 200,
                                       code: "0", classification: "ok", message: nil, state: .succeeded, attempts: 1,
                                       nextAttemptAt: 0, data: nil, error: nil, finishedAt: 11)])
        let wrong = #expect(throws: StoreError.self) { _ = try store.retry(run: run, states: [.succeeded], nowMilliseconds: 20) }
        #expect(wrong?.kind == .invalid)
        let unknown = #expect(throws: StoreError.self) { _ = try store.retry(run: 999, states: [.failed], nowMilliseconds: 20) }
        #expect(unknown?.kind == .notFound)

        // The default states: failed and dead go back, with fresh attempts and no result; uncertain stays.
        #expect(try store.retry(run: run, states: CallState.retriedByDefault, nowMilliseconds: 20) == RunChange(run: run, calls: 2))
        let states = try store.calls(run: run, state: nil, code: nil, after: nil, limit: 10).map(\.state)
        #expect(states == [.succeeded, .queued, .queued, .uncertain, .succeeded])
        let retried = try #require(try store.callDetail(c[1].id))
        #expect(retried.record.attempts == 0 && retried.record.error == nil && retried.attempts.count == 1, "history kept")
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 19, leaseUntil: 30_000, max: 5).isEmpty)
        #expect(try store.claim(account: "acct", runner: "r1", nowMilliseconds: 20, leaseUntil: 30_000, max: 5).count == 2)
    }

    func cancelStopsWaitingCallsAndInFlightOnesAfterTheirTry() throws {
        let store = try storeWithCalls(4)
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
        let inFlight = [claimed[0]], run = claimed[0].run
        _ = try store.spend(account: "acct", calls: [(claimed[0].id, 1)], runner: "r1", now: { 1 },
                            windowMilliseconds: 1_000, configuredCount: 50)
        // Two queued and one claimed but not yet sent are cancelled; the one sent finishes.
        #expect(try store.cancel(run: run, nowMilliseconds: 5) == RunChange(run: run, calls: 3))
        let late = try store.spend(account: "acct", calls: [(claimed[1].id, 1)], runner: "r1", now: { 6 },
                                   windowMilliseconds: 1_000, configuredCount: 50)
        #expect(late.granted.isEmpty && late.lost == [claimed[1].id], "a cancelled call is not sent")
        // The call in flight gets a retryable answer: it is cancelled, not tried again.
        try store.complete([Completion(call: inFlight[0].id, runner: "r1", startedAt: 1, latencyMilliseconds: 1,
                                       httpStatus: 503, code: nil, classification: "transient", message: nil,
                                       state: .retrying, attempts: 1, nextAttemptAt: 6, data: nil, error: nil,
                                       finishedAt: 6)])
        let records = try store.calls(run: run, state: nil, code: nil, after: nil, limit: 10)
        #expect(records.map(\.state) == [.cancelled, .cancelled, .cancelled, .cancelled])
        #expect(records.allSatisfy { $0.error == RetryRules.cancelledError })
        #expect(try store.hasWork(accounts: nil) == false)
        let unknown = #expect(throws: StoreError.self) { _ = try store.cancel(run: 999, nowMilliseconds: 5) }
        #expect(unknown?.kind == .notFound)
        // Cancelled calls can be retried: the run runs again.
        #expect(try store.retry(run: run, states: [.cancelled], nowMilliseconds: 7).calls == 4)
        let again = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 7, leaseUntil: 30_000, max: 1)
        try store.complete([Completion(call: again[0].id, runner: "r1", startedAt: 8, latencyMilliseconds: 1,
                                       httpStatus: 503, code: nil, classification: "transient", message: nil,
                                       state: .retrying, attempts: 1, nextAttemptAt: 9, data: nil, error: nil,
                                       finishedAt: 9)])
        #expect(try store.callDetail(again[0].id)?.record.state == .retrying, "no longer cancelled")
    }

    func pruneDeletesOldFinishedRunsOnly() throws {
        let (store, run, _) = try storeWithFinishedCalls() // its calls ended at 10; one still queued
        _ = try store.enqueue([RunToEnqueue(run: Self.run("empty", "acct")) { _ in }])
        func prune(_ before: Int64) throws -> [Int] { let p = try store.prune(finishedBefore: before); return [p.runs, p.calls] }
        #expect(try prune(1_000_000) == [1, 0], "only the empty run (created at 1,000)")
        _ = try store.cancel(run: run, nowMilliseconds: 50)
        #expect(try prune(40) == [0, 0], "its last call ended at 50")
        #expect(try prune(51) == [1, 5])
        #expect(try store.status().runs.isEmpty)
        #expect(try store.callDetail(1) == nil)
    }

    /// A call sent by a runner that then died, in a run cancelled meanwhile: recovery does not queue it again.
    func recoveryDoesNotBringBackACancelledRunsCalls() throws {
        let store = try storeWithCalls(2)
        let c = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 0, leaseUntil: 30_000, max: 1)
        _ = try store.spend(account: "acct", calls: [(c[0].id, 1)], runner: "r2", now: { 1 },
                            windowMilliseconds: 1_000, configuredCount: 50)
        #expect(try store.cancel(run: c[0].run, nowMilliseconds: 2).calls == 1, "the waiting one; the sent one finishes")
        let recovery = try store.recoverAbandoned(now: { 3 }) { record, _ in record.identity.id == "r2" }
        #expect(recovery.requeued == 1)
        #expect(try store.callDetail(c[0].id)?.record.state == .cancelled)
        #expect(try store.callDetail(c[0].id)?.record.error == RetryRules.cancelledError)
        #expect(try store.hasWork(accounts: nil) == false)
    }

    /// A batch that answers the same call twice (never sent by the runner, but possible): written in order, the
    /// second finds the first's outcome and is kept as a late answer.
    func aBatchAnsweringACallTwiceIsWrittenInOrder() throws {
        let store = try storeWithCalls(2)
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
        func answer(_ call: ClaimedCall, _ state: CallState, started: Int64) -> Completion {
            Completion(call: call.id, runner: "r1", startedAt: started, latencyMilliseconds: 1, httpStatus: 200, code: "0",
                       classification: state == .succeeded ? "ok" : "permanent", message: nil, state: state,
                       attempts: 1, nextAttemptAt: 0, data: nil, error: nil, finishedAt: started + 1)
        }
        try store.complete([answer(c[0], .succeeded, started: 1), answer(c[1], .succeeded, started: 1),
                            answer(c[0], .failed, started: 2)])
        let first = try #require(try store.callDetail(c[0].id))
        #expect(first.record.state == .succeeded)
        #expect(first.attempts.map(\.classification) == ["ok", "permanent"])
        #expect(first.attempts.last?.message?.hasPrefix("late answer") == true)
        #expect(try store.callDetail(c[1].id)?.record.state == .succeeded)
    }
}

/// Pools (docs/pools.md): shared pools and accounts' pools as stored, a spend across a shared pool, settlement
/// of every pool's spend, priority claims.
extension StoreConformance {
    func sharedPoolsAndAccountPools() throws {
        let store = try makeStore()
        let thirty = RateLimit(count: 30, windowMilliseconds: 1_000)
        var account = Self.account("a")
        account.limits = AccountLimits(pools: try AccountLimits(parsing: ["10/1s", "100/20s", "spot=40/3s"]).pools,
                                       shared: ["ip"])
        let unknown = #expect(throws: StoreError.self) { try store.addAccount(account, replace: false, nowMilliseconds: 1) }
        #expect(unknown?.kind == .unknownPool, "an account cannot name a pool that does not exist")
        try store.addSharedPool(SharedPool(name: "ip", windows: [thirty]), replace: false, nowMilliseconds: 1)
        try store.addAccount(account, replace: false, nowMilliseconds: 1)
        #expect(try store.account(named: "a") == account, "every pool and window, and the shared pool, read back")
        #expect(try store.sharedPools() == [SharedPool(name: "ip", windows: [thirty], accounts: ["a"])])

        let again = #expect(throws: StoreError.self) {
            try store.addSharedPool(SharedPool(name: "ip", windows: [thirty]), replace: false, nowMilliseconds: 2)
        }
        #expect(again?.kind == .accountExists)
        let lower = RateLimit(count: 20, windowMilliseconds: 1_000)
        try store.addSharedPool(SharedPool(name: "ip", windows: [lower]), replace: true, nowMilliseconds: 2)
        #expect(try store.sharedPools().first?.windows == [lower])

        let inUse = #expect(throws: StoreError.self) { try store.removeSharedPool(named: "ip") }
        #expect(inUse?.kind == .poolInUse && inUse?.message.contains("a") == true, "names the accounts")
        account.limits = AccountLimits(pools: account.limits.pools)
        try store.addAccount(account, replace: true, nowMilliseconds: 3)
        try store.removeSharedPool(named: "ip")
        #expect(try store.sharedPools().isEmpty)
        let gone = #expect(throws: StoreError.self) { try store.removeSharedPool(named: "ip") }
        #expect(gone?.kind == .unknownPool)
    }

    /// Two accounts of 10/1s each draw from a shared pool of 3: three calls go in all, every call's spend is
    /// written in each of its pools, and an answer settles every one of them.
    func aSharedPoolHoldsAcrossAccounts() throws {
        let store = try makeStore()
        try store.addSharedPool(SharedPool(name: "ip", windows: [RateLimit(count: 3, windowMilliseconds: 1_000)]),
                                replace: false, nowMilliseconds: 0)
        for name in ["a", "b"] {
            var account = Self.account(name)
            account.limits = AccountLimits(pools: [.init(name: "", windows: [RateLimit(count: 10, windowMilliseconds: 1_000)])],
                                           shared: ["ip"])
            try store.addAccount(account, replace: false, nowMilliseconds: 0)
            _ = try store.enqueue([RunToEnqueue(run: Self.run("j-\(name)", name), produceCalls: Self.calls(2))])
        }
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        let windows = PoolWindows([.init(count: 10, milliseconds: 1_000)]), ip = PoolWindows([.init(count: 3, milliseconds: 1_000)])
        var claimed: [ClaimedCall] = []
        let requests = try ["a", "b"].map { name -> SpendRequest in
            let calls = try store.claim(account: name, runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
            claimed += calls
            return SpendRequest(account: name, calls: calls.map { PoolCall(id: $0.id, weight: 1, pools: [name, "@ip"]) },
                                pools: [name: windows, "@ip": ip])
        }
        let grants = try store.spend(requests, runner: "r1", now: { 100 })
        #expect(grants.map(\.granted.count) == [2, 1])
        let states = try store.poolStates(["a": windows, "b": windows, "@ip": ip], nowMilliseconds: 100)
        #expect(states["a"]?.spent == [2] && states["b"]?.spent == [1] && states["@ip"]?.spent == [3])
        // The answers settle the spends in both pools: a window after them, the pool has room again.
        let granted = Set(grants.flatMap(\.granted))
        try store.complete(claimed.filter { granted.contains($0.id) }.map {
            Completion(call: $0.id, runner: "r1", startedAt: 100, latencyMilliseconds: 0, httpStatus: 200, code: "0",
                       classification: "ok", message: nil, state: .succeeded, attempts: 1, nextAttemptAt: 0,
                       data: nil, error: nil, finishedAt: 200)
        })
        #expect(try store.poolStates(["@ip": ip, "a": windows], nowMilliseconds: 1_250).mapValues(\.spent)
                == ["@ip": [0], "a": [0]])
    }

    /// A refusal of a call drawing from two pools cools the one that was fullest for its capacity, not the other.
    func aRefusalIsChargedToTheFullestPool() throws {
        let store = try storeWithCalls(2)
        let spot = PoolWindows([.init(count: 2, milliseconds: 1_000)]), ip = PoolWindows([.init(count: 10, milliseconds: 1_000)])
        let calls = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 2)
        let grant = try store.spend([SpendRequest(account: "acct", calls: calls.map { PoolCall(id: $0.id, weight: 1, pools: ["acct/spot", "@ip"]) },
                                                  pools: ["acct/spot": spot, "@ip": ip])], runner: "r1", now: { 100 })[0]
        #expect(grant.granted.count == 2)
        let pools = [RefusedPool(key: "acct/spot", name: "spot", windowMilliseconds: 1_000, configuredCount: 2),
                     RefusedPool(key: "@ip", name: "ip", windowMilliseconds: 1_000, configuredCount: 10)]
        let charged = try store.recordRateLimit(account: "acct", pools: pools, call: calls[1].id, runner: "r1", sentAt: 100,
                                                nowMilliseconds: 150, retryAfterMilliseconds: nil)
        #expect(charged.map(\.key) == ["acct/spot"])
        let states = try store.poolStates(["acct/spot": spot, "@ip": ip], nowMilliseconds: 160)
        #expect(states["acct/spot"]!.pacing.refusedAt == 150, "spot weighed the refusal")
        #expect(states["@ip"]!.pacing == Pacing(configured: 10), "the shared pool untouched")
    }

    /// Calls of a run with a priority are claimed before those queued earlier without one (retries still first).
    func priorityCallsAreClaimedFirst() throws {
        let store = try makeStore()
        try store.addAccount(Self.account("a"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: Self.run("polls", "a"), produceCalls: Self.calls(5))])
        let cancel = try store.enqueue([RunToEnqueue(run: Self.run("cancel", "a"), produceCalls: { emit in
            try Self.calls(2)({ call in
                var urgent = call
                urgent.priority = 10
                urgent.pools = PoolDemand(names: ["spot"])
                try emit(urgent)
            })
        })])
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim(account: "a", runner: "r1", nowMilliseconds: 10_000, leaseUntil: 40_000, max: 3)
        #expect(claimed.map(\.pools) == [PoolDemand(names: ["spot"]), PoolDemand(names: ["spot"]), .default])
        #expect(claimed.map(\.run) == [cancel[0].run, cancel[0].run, cancel[0].run - 1])
    }
}
