import Foundation
import PacerCore
import PacerPostgres
import PacerRunner
import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI
import PacerSQLite

/// `pacer migrate-store`: an SQLite user's setup moves to PostgreSQL, all or nothing, and the old file sends
/// nothing afterwards.
@Suite struct MigrateStoreTests {
    let dir = TempDir()
    var path: String { dir.url.appendingPathComponent("pacer.sqlite").path }

    static func account(_ name: String, _ provider: Provider = .kucoin) -> Account {
        Account(name: name, provider: provider, baseURL: "http://127.0.0.1:9/\(provider.rawValue)",
                limit: RateLimit(count: 10, windowMilliseconds: 1_000),
                credentials: CredentialReferences(key: "k", secretEnv: "S", passphraseEnv: provider == .kucoin ? "P" : nil))
    }

    static func run(_ job: String, _ account: String) -> NewRun {
        NewRun(job: job, account: account, jobFile: "\(job).yaml", retry: .default, createdAtMilliseconds: 1_000)
    }

    static func calls(_ n: Int, keyed: Bool = false) -> (_ emit: (NewCall) throws -> Void) throws -> Void {
        { emit in
            for i in 0..<n {
                try emit(NewCall(index: i, method: .post, path: "/api/v1/orders", params: #"{"n":\#(i)}"#, body: nil,
                                 weight: 1, idempotent: !keyed, key: keyed ? "key\(i)-\(UUID().uuidString.prefix(6))" : nil,
                                 keyed: keyed))
            }
        }
    }

    func migrate(to url: String) throws {
        var command = try PacerCommand.parseAsRoot(["migrate-store", "--from", path, "--to", url])
        try command.run()
    }

    /// An SQLite database with two accounts (one paused), a schedule, a finished run and an unfinished one (a
    /// call done, two keyed orders to go), and a recent spend.
    func oldDatabase() throws -> SQLiteStore {
        let store = try SQLiteStore(path: path)
        try store.addAccount(Self.account("kc"), replace: false, nowMilliseconds: 1)
        try store.addAccount(Self.account("kk", .kookeey), replace: false, nowMilliseconds: 1)
        try store.pauseAccount("kk", reason: "auth: bad key", nowMilliseconds: 2)
        try store.addSchedule(ScheduleRecord(job: "poll", file: "/jobs/poll.yaml", source: "name: poll", registeredAt: 5))
        _ = try store.enqueue([RunToEnqueue(run: Self.run("done", "kc"), produceCalls: Self.calls(2))])
        _ = try store.enqueue([RunToEnqueue(run: Self.run("orders", "kc"), produceCalls: Self.calls(3, keyed: true))])
        let now = WallClock.nowMilliseconds()
        try store.registerRunner(RunnerIdentity(id: "old", host: "h", pid: 1), now: { now })
        let claimed = try store.claim(account: "kc", runner: "old", nowMilliseconds: now, leaseUntil: now + 30_000, max: 3)
        let grant = try store.spend(account: "kc", calls: claimed.map { ($0.id, 1) }, runner: "old", now: { now },
                                    windowMilliseconds: 1_000, configuredCount: 10)
        // The first run's two calls and the second run's first call succeed; the other two go back.
        let done = claimed.filter { $0.run == claimed[0].run } + [claimed.first { $0.run != claimed[0].run }!]
        try store.complete(grant.granted.filter { id in done.contains { $0.id == id } }.map { id in
            Completion(call: id, runner: "old", startedAt: now, latencyMilliseconds: 5, httpStatus: 200, code: "200000",
                       classification: "ok", message: nil, state: .succeeded, attempts: 1, nextAttemptAt: 0,
                       data: #"{"orderId":"\#(id)"}"#, error: nil, finishedAt: now)
        })
        try store.unregisterRunner("old")
        return store
    }

    @Test func anSQLiteSetupMovesToPostgres() throws {
        let old = try oldDatabase()
        let target = try TestPostgres.freshDatabase()
        try migrate(to: target.url)

        let moved = try PostgresStore(location: target)
        #expect(try moved.accounts().map(\.name) == ["kc", "kk"])
        #expect(try moved.account(named: "kk")?.pausedReason == "auth: bad key")
        #expect(try moved.account(named: "kc")?.pausedReason == nil)
        #expect(try moved.schedules().map(\.job) == ["poll"])
        // Only the unfinished run, with all its calls: the finished one keeps its result, and the keys go along.
        var records: [ResultRecord] = []
        try moved.results(run: nil) { records.append($0) }
        #expect(records.map(\.job) == ["orders", "orders", "orders"])
        #expect(records.map(\.state) == [.succeeded, .queued, .queued])
        #expect(records[0].data?.contains("orderId") == true)
        var oldKeys: [String?] = []
        try old.results(run: nil) { if $0.job == "orders" { oldKeys.append($0.key) } }
        #expect(records.map(\.key) == oldKeys && oldKeys.allSatisfy { $0 != nil })
        // The three spends of the last second hold their tokens on PostgreSQL too.
        let pacing = try moved.pacing(account: "kc", nowMilliseconds: WallClock.nowMilliseconds(),
                                      windowMilliseconds: 60_000, configuredCount: 10)
        #expect(pacing.spentInWindow == 3)
        // The old database sends nothing any more.
        #expect(try old.account(named: "kc")?.pausedReason?.hasPrefix("moved to postgres://") == true)
        #expect(try old.account(named: "kk")?.pausedReason == "auth: bad key")
        #expect(try old.hasWork(accounts: nil) == false)

        // Moving again is refused, and changes nothing on either side.
        #expect(throws: StoreError.self) { try migrate(to: target.url) }
        var again = 0
        try moved.results(run: nil) { _ in again += 1 }
        #expect(again == 3)
    }

    @Test func aLiveRunnerRefusesTheMove() throws {
        let old = try oldDatabase()
        try old.registerRunner(RunnerIdentity(id: "busy", host: Runner.localHost, pid: getpid()),
                               now: WallClock.nowMilliseconds)
        let target = try TestPostgres.freshDatabase()
        let error = #expect(throws: StoreError.self) { try migrate(to: target.url) }
        #expect(error?.message.contains("stop every `pacer run`") == true)
        #expect(try old.account(named: "kc")?.pausedReason == nil, "nothing was paused")
        #expect(try PostgresStore(location: target).accounts().isEmpty, "nothing was copied")
    }
}

/// `--db` chooses the store: a path or `sqlite:PATH` is SQLite, `postgres://` (or `postgresql://`) PostgreSQL.
@Suite struct StoreSelectionTests {
    @Test func theLocationChoosesTheStore() throws {
        let dir = TempDir()
        let path = dir.url.appendingPathComponent("x.sqlite").path
        #expect((try StoreOptions.open("sqlite:" + path) as? SQLiteStore)?.path == path)
        #expect((try StoreOptions.open(path) as? SQLiteStore)?.path == path)
        let server = try TestPostgres.freshDatabase()
        #expect((try StoreOptions.open(server.url) as? PostgresStore)?.location == server)
        let postgresql = server.url.replacingOccurrences(of: "postgres://", with: "postgresql://")
        #expect((try StoreOptions.open(postgresql) as? PostgresStore)?.location == server)
    }
}
