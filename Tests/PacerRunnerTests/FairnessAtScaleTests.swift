import Foundation
import PacerCore
import PacerEmulator
import PacerProviders
import PacerRunner
import PacerStorage
import PacerTestSupport
import Testing
import PacerSQLite

/// Fairness at 1,000 accounts: one account with a long queue must not starve 999 quiet ones.
@Suite(.serialized) struct FairnessAtScaleTests {
    @Test func aBusyAccountDoesNotStarveNineHundredNinetyNineQuietOnes() async throws {
        let dir = TempDir()
        let count = 1_000, busyCalls = 4_000
        let emulator = try Emulator(config: EmulatorConfig(accounts: (0..<count).map { i in
            .init(provider: .kookeey, key: "k\(i)", secret: "s", limit: "100000/1s")
        }))
        let running = try await emulator.start()
        setenv("PACER_TEST_FAIRNESS_SECRET", "s", 1)
        let store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.sqlite").path)
        for i in 0..<count {
            try store.addAccount(Account(name: "a\(i)", provider: .kookeey, baseURL: running.baseURL(.kookeey),
                                         limit: RateLimit(count: 100_000, windowMilliseconds: 1_000),
                                         credentials: CredentialReferences(key: "k\(i)", secretEnv: "PACER_TEST_FAIRNESS_SECRET")),
                                 replace: false, nowMilliseconds: 0)
        }
        // The busy account's calls are queued first, so a first-come scheduler would send them all first.
        _ = try store.enqueue((0..<count).map { i in
            RunToEnqueue(run: NewRun(job: "j\(i)", account: "a\(i)", jobFile: "j.yaml", retry: .default,
                                     createdAtMilliseconds: 0)) { emit in
                for n in 0..<(i == 0 ? busyCalls : 1) {
                    try emit(NewCall(index: n, method: .get, path: "/stock", params: #"{"g":"\#(n)"}"#, body: nil,
                                     weight: 1, idempotent: true))
                }
            }
        })
        var options = RunnerOptions()
        options.drain = true
        options.maxSeconds = 60
        options.concurrency = 16
        let transport = HTTPTransport(timeoutSeconds: 10)
        let summary = try await Runner(store: store, transport: transport, options: options).run()
        try await transport.shutdown()
        await running.stop()
        #expect(!summary.stoppedEarly)
        var busyDone: [Int64] = [], quietDone: [Int64] = []
        try store.results(run: nil) { r in
            guard r.state == .succeeded, let at = r.finishedAtMilliseconds else { return }
            if r.account == "a0" { busyDone.append(at) } else { quietDone.append(at) }
        }
        #expect(busyDone.count == busyCalls && quietDone.count == count - 1)
        busyDone.sort()
        // When the last quiet account is served, the busy one still has nearly all of its queue ahead of it.
        let lastQuiet = quietDone.max() ?? .max
        let busyBefore = busyDone.filter { $0 <= lastQuiet }.count
        #expect(busyBefore < busyCalls / 10, "the busy account sent \(busyBefore) of \(busyCalls) before the last quiet account was served")
    }
}
