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
}
