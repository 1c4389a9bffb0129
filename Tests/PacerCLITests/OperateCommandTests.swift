import Foundation
import PacerCore
import PacerOperations
import PacerPostgres
import PacerStorage
import PacerTestSupport
import Testing

/// `show`, `retry`, `cancel` and `prune` as a user runs them (the `pacer` binary), on both stores.
@Suite struct OperateCommandTests {
    let dir = TempDir()

    /// A store with one account and a run of three calls: one succeeded, one failed (code 10006), one queued.
    func setUp(_ database: TestDatabase) throws -> (store: any PacerStore, db: String, run: Int64, calls: [Int64]) {
        let (store, db) = try database.open(in: dir)
        try store.addAccount(Account(name: "acct", provider: .kucoin, baseURL: "http://127.0.0.1:9/kucoin",
                                     limit: RateLimit(count: 50, windowMilliseconds: 1_000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S", passphraseEnv: "P")),
                             replace: false, nowMilliseconds: 0)
        let runs = try store.enqueue([RunToEnqueue(run: NewRun(job: "cancels", account: "acct", jobFile: "c.yaml",
                                                               retry: .default, createdAtMilliseconds: 0)) { emit in
            for i in 0..<3 {
                try emit(NewCall(index: i, method: .delete, path: "/api/v1/orders/o\(i)", params: #"{"symbol":"BTC-USDT"}"#,
                                 body: nil, weight: 1, idempotent: true))
            }
        }])
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { now })
        let claimed = try store.claim(account: "acct", runner: "r", nowMilliseconds: now, leaseUntil: now + 30_000, max: 2)
        _ = try store.spend(account: "acct", calls: claimed.map { ($0.id, 1) }, runner: "r", now: { now },
                            windowMilliseconds: 1_000, configuredCount: 50)
        func answer(_ call: ClaimedCall, ok: Bool) -> Completion {
            Completion(call: call.id, runner: "r", startedAt: now, latencyMilliseconds: 12, httpStatus: 200,
                       code: ok ? "200000" : "10006", classification: ok ? "ok" : "permanent",
                       message: ok ? nil : "too many requests", state: ok ? .succeeded : .failed, attempts: 1,
                       nextAttemptAt: 0, data: ok ? #"{"cancelledOrderIds":["o0"]}"# : nil, error: ok ? nil : "refused",
                       finishedAt: now)
        }
        try store.complete([answer(claimed[0], ok: true), answer(claimed[1], ok: false)])
        try store.unregisterRunner("r")
        var ids: [Int64] = []
        try store.results(run: nil) { ids.append($0.call) }
        return (store, db, runs[0].run, ids)
    }

    func pacer(_ args: [String], db: String) throws -> PacerProcess.Result {
        try PacerProcess.run(args + ["--db", db])
    }

    @Test(arguments: TestDatabase.allCases)
    func showPrintsACallWithItsTries(_ database: TestDatabase) throws {
        let (_, db, run, calls) = try setUp(database)
        let shown = try pacer(["show", String(calls[1]), "--json"], db: db)
        #expect(shown.status == 0, "\(shown.stderr)")
        let json = try JSONValue(parsing: shown.stdout)
        #expect(json["call"] == .number(String(calls[1])) && json["run"] == .number(String(run)))
        #expect(json["state"] == .string("failed") && json["params"]?["symbol"] == .string("BTC-USDT"))
        #expect(json["attempts"]?[0]?["code"] == .string("10006"))
        #expect(json["attempts"]?[0]?["latency_ms"] == .number("12"))
        #expect(json["result"]?["error"] == .string("refused"))
        let succeeded = try JSONValue(parsing: try pacer(["show", String(calls[0]), "--json"], db: db).stdout)
        #expect(succeeded["result"]?["data"]?["cancelledOrderIds"]?[0] == .string("o0"), "the payload is JSON, not a string")
        let text = try pacer(["show", String(calls[1])], db: db)
        #expect(text.stdout.contains("too many requests") && text.stdout.contains("10006"))
        let missing = try pacer(["show", "999999"], db: db)
        #expect(missing.status != 0 && missing.stderr.contains("no call 999999"))
    }

    @Test(arguments: TestDatabase.allCases)
    func retryCancelAndPruneAsTheContractSays(_ database: TestDatabase) throws {
        let (store, db, run, calls) = try setUp(database)
        func states() throws -> [CallState] {
            try store.calls(run: run, state: nil, code: nil, after: nil, limit: 10).map(\.state)
        }
        // A run still running is not retried; bad input is refused; nothing changes.
        let running = try pacer(["retry", String(run)], db: db)
        #expect(running.status != 0 && running.stderr.contains("still running"), "\(running.stderr)")
        let bogus = try pacer(["retry", String(run), "--state", "failed,exploded"], db: db)
        #expect(bogus.status != 0 && bogus.stderr.contains("'exploded'"))
        let unknown = try pacer(["cancel", "424242"], db: db)
        #expect(unknown.status != 0 && unknown.stderr.contains("no run 424242"))
        #expect(try states() == [.succeeded, .failed, .queued])

        let cancelled = try pacer(["cancel", String(run), "--json"], db: db)
        #expect(try JSONValue(parsing: cancelled.stdout) == JSONValue(parsing: #"{"run":\#(run),"action":"cancel","calls":1}"#))
        #expect(try states() == [.succeeded, .failed, .cancelled])
        let done = try pacer(["retry", String(run), "--state", "succeeded"], db: db)
        #expect(done.status != 0 && done.stderr.contains("cannot retry succeeded"))

        let retried = try pacer(["retry", String(run), "--json"], db: db)
        #expect(try JSONValue(parsing: retried.stdout)["calls"] == .number("1"), "failed and dead by default")
        #expect(try states() == [.succeeded, .queued, .cancelled])
        #expect(try store.callDetail(calls[1])?.attempts.count == 1, "the history stays")

        // Prune: the run is not finished now; once cancelled again it is, but younger than a day.
        #expect(try JSONValue(parsing: try pacer(["prune", "--older-than", "1ms", "--json"], db: db).stdout)["runs"] == .number("0"))
        _ = try pacer(["cancel", String(run)], db: db)
        #expect(try pacer(["prune", "--older-than", "1d"], db: db).stdout.contains("deleted 0 finished run(s)"))
        Thread.sleep(forTimeInterval: 0.01)
        let pruned = try pacer(["prune", "--older-than", "1ms", "--json"], db: db)
        #expect(try JSONValue(parsing: pruned.stdout) == JSONValue(parsing: #"{"runs":1,"calls":3,"space_returned":true}"#),
                "\(pruned.stderr)")
        #expect(try store.status().runs.isEmpty)
        let badAge = try pacer(["prune", "--older-than", "soon"], db: db)
        #expect(badAge.status != 0 && badAge.stderr.contains("expected a duration"))
    }
}
