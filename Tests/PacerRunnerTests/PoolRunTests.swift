import Foundation
import PacerCore
import PacerEmulator
import PacerQueue
import PacerRunner
import PacerStorage
import PacerTestSupport
import Testing

/// Pools end to end (docs/pools.md): job files queued as `pacer enqueue` does (the endpoint tables decide pools
/// and weights), a runner in this process, and the emulator on 127.0.0.1 enforcing the pools it is configured
/// with by hand. Each test checks what the emulator saw, never how long the run took (the figures are
/// `pacer-bench pools`'s).
@Suite(.serialized) struct PoolRunTests {
    let dir = TempDir()

    struct Setup {
        let emulator: Emulator
        let running: RunningEmulator
        let store: any PacerStore
    }

    func setup(_ config: EmulatorConfig, accounts: [(name: String, provider: Provider, key: String, limits: [String],
                                                     shared: [String])],
               sharedPools: [SharedPool] = [], database: TestDatabase = .sqlite) async throws -> Setup {
        let emulator = try Emulator(config: config)
        let running = try await emulator.start()
        let (store, _) = try database.open(in: dir)
        for pool in sharedPools { try store.addSharedPool(pool, replace: false, nowMilliseconds: 0) }
        setenv("PACER_POOL_TEST_SECRET", "pool-secret", 1)
        setenv("PACER_POOL_TEST_PASSPHRASE", "pool-pass", 1)
        for a in accounts {
            let own = try AccountLimits(parsing: a.limits)
            try store.addAccount(Account(name: a.name, provider: a.provider, baseURL: running.baseURL(a.provider),
                                         limits: AccountLimits(pools: own.pools, shared: a.shared),
                                         credentials: CredentialReferences(
                                             key: a.key, secretEnv: "PACER_POOL_TEST_SECRET",
                                             passphraseEnv: a.provider == .kucoin ? "PACER_POOL_TEST_PASSPHRASE" : nil)),
                                 replace: false, nowMilliseconds: 0)
        }
        return Setup(emulator: emulator, running: running, store: store)
    }

    func emulated(_ provider: Provider, key: String, limit: String, pools: [PoolConfig]? = nil)
        -> EmulatorConfig.AccountConfig {
        .init(provider: provider, key: key, secret: "pool-secret", passphrase: provider == .kucoin ? "pool-pass" : nil,
              limit: limit, pools: pools)
    }

    func enqueue(_ s: Setup, _ name: String, _ yaml: String) throws {
        let file = dir.url.appendingPathComponent("\(name).yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        _ = try Enqueuer(store: s.store, nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) })
            .enqueue(files: [file])
    }

    func drain(_ s: Setup) async throws -> Runner.Summary {
        var options = RunnerOptions()
        options.drain = true
        options.maxSeconds = 60
        let transport = HTTPTransport(timeoutSeconds: 5)
        let summary = try await Runner(store: s.store, transport: transport, options: options).run()
        try await transport.shutdown()
        await s.running.stop()
        return summary
    }

    func states(_ s: Setup) throws -> [String: [CallState: Int]] {
        var states: [String: [CallState: Int]] = [:]
        try s.store.results(run: nil) { states[$0.job, default: [:]][$0.state, default: 0] += 1 }
        return states
    }

    /// A KuCoin account's spot and management pools, one job each at once, with the spot pool enforced lower than
    /// the account was told: every call ends succeeded, the management pool is never over nor refused, and the
    /// weights the endpoint table gives (cancel 3, account read 5) are what the emulator counted.
    @Test(arguments: TestDatabase.allCases)
    func spotRefusalsLeaveTheManagementPoolAlone(_ database: TestDatabase) async throws {
        let pools = [
            PoolConfig(name: "spot", limits: ["24/1s"], prefixes: ["/api/v1/orders"], weights: ["DELETE /api/v1/orders/{id}": 3]),
            PoolConfig(name: "management", limits: ["10/1s"], prefixes: ["/api/v1/accounts"], weights: ["GET /api/v1/accounts": 5]),
        ]
        let s = try await setup(EmulatorConfig(accounts: [emulated(.kucoin, key: "k", limit: "100000/1s", pools: pools)]),
                                accounts: [("kc", .kucoin, "k", ["spot=30/1s", "management=10/1s"], [])], database: database)
        try enqueue(s, "spot", "name: spot\naccount: kc\nrequest: {method: DELETE, path: \"/api/v1/orders/{{item}}\"}\nitems: {range: 1..40}\n")
        try enqueue(s, "management", "name: management\naccount: kc\nrequest: {method: GET, path: /api/v1/accounts, params: {t: \"{{item}}\"}}\nitems: {range: 1..6}\n")
        _ = try await drain(s)
        #expect(try states(s) == ["spot": [.succeeded: 40], "management": [.succeeded: 6]])
        let stats = s.emulator.stats().account("k")!
        let management = stats.pools.first { $0.name == "management" }!
        #expect(!management.violated, "\(management)")
        #expect(management.maxSentInWindow[0] == 10, "two reads of weight 5 in a window: \(management)")
        let spot = stats.pools.first { $0.name == "spot" }!
        #expect(spot.maxSentInWindow[0] <= 30 && spot.maxSentInWindow[0] % 3 == 0, "cancels weigh 3: \(spot)")
    }

    /// Three accounts of 10/1s share a pool of 12/1s: every call goes, the shared pool is never over, on both
    /// stores (the decision spans accounts in one transaction).
    @Test(arguments: TestDatabase.allCases)
    func aSharedPoolHoldsAcrossAccounts(_ database: TestDatabase) async throws {
        let keys = ["a", "b", "c"]
        let s = try await setup(EmulatorConfig(accounts: keys.map { emulated(.kookeey, key: $0, limit: "10/1s") },
                                               sharedPools: [PoolConfig(name: "office", limits: ["12/1s"])]),
                                accounts: keys.map { ($0, .kookeey, $0, ["10/1s"], ["office"]) },
                                sharedPools: [SharedPool(name: "office", windows: [RateLimit(count: 12, windowMilliseconds: 1_000)])],
                                database: database)
        for key in keys {
            try enqueue(s, "job-\(key)", "name: job-\(key)\naccount: \(key)\nrequest: {method: GET, path: /stock, params: {g: \"{{item}}\"}}\nitems: {range: 1..20}\n")
        }
        _ = try await drain(s)
        let stats = s.emulator.stats()
        #expect(try states(s).values.allSatisfy { $0 == [.succeeded: 20] })
        #expect(!stats.sharedPools[0].violated && stats.sharedPools[0].maxSentInWindow[0] == 12, "\(stats.sharedPools)")
    }

    /// Two windows on one pool (5/1s and 8/3s): neither is ever over.
    @Test func everyWindowOfAPoolHolds() async throws {
        let s = try await setup(EmulatorConfig(accounts: [emulated(.kookeey, key: "w", limit: "5/1s",
                                                                   pools: [PoolConfig(name: "slow", limits: ["8/3s"])])]),
                                accounts: [("w", .kookeey, "w", ["5/1s", "8/3s"], [])])
        try enqueue(s, "windows", "name: windows\naccount: w\nrequest: {method: GET, path: /stock, params: {g: \"{{item}}\"}}\nitems: {range: 1..20}\n")
        _ = try await drain(s)
        let stats = s.emulator.stats().account("w")!
        #expect(try states(s) == ["windows": [.succeeded: 20]])
        #expect(stats.maxSentInWindow == 5 && stats.rejected.isEmpty, "\(stats)")
        #expect(stats.pools[0].maxSentInWindow == [8] && !stats.pools[0].violated, "\(stats.pools)")
    }
}
