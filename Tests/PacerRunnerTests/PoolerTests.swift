import Foundation
import PacerCore
import PacerEmulator
import PacerPostgres
import PacerQueue
import PacerRunner
import PacerStorage
import PacerTestSupport
import Testing

/// Pacer behind PgBouncer in transaction mode (docs/postgres.md): the schema is migrated, work is queued, and
/// two runners drain it through the pooler, every statement of a transaction on one server connection but
/// consecutive transactions on any; limits hold, nothing is lost or done twice.
@Suite(.serialized) struct PoolerTests {
    @Test func runnersWorkBehindPgBouncerInTransactionMode() async throws {
        let server = try TestPostgres.server()
        // Starting PgBouncer waits on a script: off the cooperative pool, which other suites share.
        let (direct, bouncer) = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { (try TestPostgres.freshDatabase(), try PgBouncer(inFrontOf: server)) })
            }
        }
        var location = try bouncer.location(direct.database)
        location.transactionPooler = true
        #expect(try PostgresLocation(url: location.url).transactionPooler, "pooler=transaction is in the URL")
        let store = try PostgresStore(location: location)
        setenv("PACER_POOLER_TEST_SECRET", "pooler-secret", 1)
        let keys = ["a", "b"]
        let emulator = try Emulator(config: EmulatorConfig(
            accounts: keys.map { .init(provider: .kookeey, key: $0, secret: "pooler-secret", limit: "10/1s") },
            sharedPools: [PoolConfig(name: "office", limits: ["15/1s"])]))
        let running = try await emulator.start()
        try store.addSharedPool(SharedPool(name: "office", windows: [RateLimit(count: 15, windowMilliseconds: 1_000)]),
                                replace: false, nowMilliseconds: 0)
        for key in keys {
            try store.addAccount(Account(name: key, provider: .kookeey, baseURL: running.baseURL(.kookeey),
                                         limits: AccountLimits(pools: [.init(name: "", windows: [RateLimit(count: 10, windowMilliseconds: 1_000)])],
                                                               shared: ["office"]),
                                         credentials: CredentialReferences(key: key, secretEnv: "PACER_POOLER_TEST_SECRET")),
                                 replace: false, nowMilliseconds: 0)
            _ = try store.enqueue([RunToEnqueue(run: NewRun(job: "job-\(key)", account: key, jobFile: "-", retry: .default,
                                                            createdAtMilliseconds: 0)) { emit in
                for i in 0..<20 {
                    try emit(NewCall(index: i, method: .get, path: "/stock", params: #"{"g":"\#(key)\#(i)"}"#, body: nil,
                                     weight: 1, idempotent: true))
                }
            }])
        }
        // Two runners in this process, each with its own connections through the pooler.
        let pooled = location
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var options = RunnerOptions()
                    options.drain = true
                    options.maxSeconds = 60
                    let transport = HTTPTransport(timeoutSeconds: 5)
                    _ = try await Runner(store: try PostgresStore(location: pooled), transport: transport, options: options).run()
                    try await transport.shutdown()
                }
            }
            try await group.waitForAll()
        }
        await running.stop()
        var states: [CallState: Int] = [:]
        try store.results(run: nil) { states[$0.state, default: 0] += 1 }
        #expect(states == [.succeeded: 40])
        #expect(bouncer.log.contains("login attempt: db=\(direct.database)"), "the calls went through PgBouncer: \(bouncer.log.suffix(400))")
        let stats = emulator.stats()
        #expect(stats.duplicatedCalls.isEmpty)
        #expect(!stats.sharedPools[0].violated && stats.accounts.allSatisfy { !$0.violated(limit: 10) }, "\(stats)")
    }
}
