import GRDB
import PacerCore
@testable import PacerPostgres
import PacerSQLite
import PacerStorage
import PacerTestSupport
import Synchronization
import Testing

/// Batches are real: one spend decision for many accounts costs the same statements (round trips, on a server)
/// whatever the number of accounts, and so does writing their answers on PostgreSQL.
@Suite struct StatementCountTests {
    /// `accounts` accounts with one claimed call each (runner "r"), and the spend requests for those calls.
    static func prepare(_ store: any PacerStore, accounts: Int) throws -> [SpendRequest] {
        for i in 0..<accounts {
            try store.addAccount(StoreConformance.account("a\(i)"), replace: false, nowMilliseconds: 0)
            _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j\(i)", "a\(i)"),
                                                produceCalls: StoreConformance.calls(1))])
        }
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim((0..<accounts).map { ClaimRequest(account: "a\($0)", max: 1) }, runner: "r",
                                      nowMilliseconds: 0, leaseUntil: 30_000)
        return claimed.enumerated().map { i, batch in
            SpendRequest(account: "a\(i)", calls: batch.calls.map { (id: $0.id, weight: 1) }, windowMilliseconds: 1_000,
                         configuredCount: 50)
        }
    }

    static func answers(_ grants: [SpendGrant]) -> [Completion] {
        grants.flatMap { grant in
            grant.granted.map {
                Completion(call: $0, runner: "r", startedAt: grant.at, latencyMilliseconds: 5, httpStatus: 200,
                           code: "200000", classification: "ok", message: nil, state: .succeeded, attempts: 1,
                           nextAttemptAt: 0, data: "{}", error: nil, finishedAt: grant.at + 5, dispatchedAt: grant.at)
            }
        }
    }

    @Test func aSpendOverManyAccountsCostsTheSameStatementsOnSQLite() throws {
        var counts: [Int: Int] = [:]
        for accounts in [10, 100] {
            let dir = TempDir()
            let store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.db").path)
            let requests = try Self.prepare(store, accounts: accounts)
            let statements = Mutex(0)
            store.pool.writeWithoutTransaction { db in
                db.trace(options: .statement) { _ in statements.withLock { $0 += 1 } }
            }
            let grants = try store.spend(requests, runner: "r", now: { 100 })
            #expect(grants.map(\.granted.count).reduce(0, +) == accounts)
            counts[accounts] = statements.withLock { $0 }
        }
        // The durable commit's two PRAGMAs, BEGIN, the runner's check, the pacings, the held weights, the dispatch
        // marks, the spends, COMMIT; and now and then (one spend in 64 per account) one trim of old spends.
        #expect((counts[10] ?? 0) >= 9 && (counts[100] ?? 0) <= 10, "statements per spend: \(counts)")
    }

    @Test func aSpendAndItsAnswersCostTheSameRoundTripsOnPostgreSQL() throws {
        var spends: [Int: Int] = [:], answers: [Int: Int] = [:]
        for accounts in [10, 100] {
            let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
            let requests = try Self.prepare(store, accounts: accounts)
            let before = store.roundTrips.load(ordering: .relaxed)
            let grants = try store.spend(requests, runner: "r", now: { 100 })
            let afterSpend = store.roundTrips.load(ordering: .relaxed)
            #expect(grants.map(\.granted.count).reduce(0, +) == accounts)
            try store.complete(Self.answers(grants))
            spends[accounts] = afterSpend - before
            answers[accounts] = store.roundTrips.load(ordering: .relaxed) - afterSpend
        }
        // BEGIN, the runner's check, the locks, the pacings, the held weights, the marks, the spends, COMMIT (and
        // the server's clock, when it keeps time); now and then one trim of old spends.
        #expect((spends[10] ?? 0) >= 8 && (spends[100] ?? 0) <= 9, "round trips per spend: \(spends)")
        // BEGIN, now, the calls locked and read, their spends, the calls, the tries, the results, the settled
        // spends, COMMIT.
        #expect(answers[10] == answers[100] && (answers[100] ?? 0) <= 9, "round trips per batch of answers: \(answers)")
    }
}
