import PacerCore
import PacerStore
import Testing

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
        for r in ["r1", "r2"] { try store.registerRunner(RunnerIdentity(id: r, host: "h", pid: 1), nowMilliseconds: 0) }
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

    func spendsRespectTheWindowAndLeases() throws {
        let store = try storeWithCalls(8)
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 8)
        let all = claimed.map { (id: $0.id, weight: 1) }
        // Limit 5 per 1000 ms: five go now, the sixth must wait for the first to return.
        let first = try store.spend(account: "acct", calls: all, runner: "r1", now: { 100 },
                                    windowMilliseconds: 1_000, configuredCount: 5)
        #expect(first.granted == Array(all.prefix(5).map(\.id)))
        #expect(first.retryAt == 1_100)
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

    func reservationsShareTheBucket() throws {
        let store = try storeWithCalls(1)
        for t in 0..<Int64(5) {
            #expect(try store.reserve(account: "acct", weight: 1, now: { t }, windowMilliseconds: 1_000, configuredCount: 5) == nil)
        }
        #expect(try store.reserve(account: "acct", weight: 1, now: { 10 }, windowMilliseconds: 1_000, configuredCount: 5) == 1_000)
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 10, leaseUntil: 30_000, max: 1)
        let grant = try store.spend(account: "acct", calls: claimed.map { ($0.id, 1) }, runner: "r1", now: { 10 },
                                    windowMilliseconds: 1_000, configuredCount: 5)
        #expect(grant.granted.isEmpty && grant.retryAt == 1_000)
    }

    func rateLimitsCoolTheAccountDown() throws {
        let store = try storeWithCalls(3)
        let claimed = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 3)
        _ = try store.spend(account: "acct", calls: [(claimed[0].id, 1)], runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 50)
        try store.recordRateLimit(account: "acct", sentAt: 5, nowMilliseconds: 10, retryAfterMilliseconds: 2_000,
                                  windowMilliseconds: 1_000, configuredCount: 50)
        let blocked = try store.spend(account: "acct", calls: [(claimed[1].id, 1)], runner: "r1", now: { 500 },
                                      windowMilliseconds: 1_000, configuredCount: 50)
        #expect(blocked.granted.isEmpty && blocked.retryAt == 2_010)
        let pacing = try store.pacing(account: "acct", nowMilliseconds: 500, windowMilliseconds: 1_000, configuredCount: 50)
        #expect(pacing.pacing.ceiling == 1)
        #expect(pacing.pacing.cooldownUntil == 2_010)
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
            let recovery = try store.recoverAbandoned(nowMilliseconds: 100, staleBefore: -1) { $0.id == "r1" }
            #expect(recovery.deadRunners == ["r1"])
            var states: [CallState] = []
            try store.results(run: nil) { states.append($0.state) }
            #expect(states == (idempotent ? [.queued, .queued] : [.uncertain, .queued]))
            #expect(recovery.uncertain == (idempotent ? 0 : 1))
            // A live runner's calls are left alone.
            let live = try store.claim(account: "acct", runner: "r2", nowMilliseconds: 200, leaseUntil: 30_000, max: 2)
            _ = try store.recoverAbandoned(nowMilliseconds: 300, staleBefore: -1) { _ in false }
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
}
