import Foundation
import PacerCore
import PacerTestSupport
import Testing

/// `pacer plan` as a user runs it: it queues nothing, shows the calls, and its estimate of how long the limits
/// take is never beaten by the run that follows against the emulator (`pacer-bench runner` measures how close).
@Suite struct PlanTests {
    @Test func thePlansEstimateMatchesTheRunThatFollows() async throws {
        let h = try await RunnerHarness(configured: "10/1s")
        try h.enqueue(.kookeey, count: 15) // already queued: the plan counts them first
        let job = h.dir.write("stock.yaml", """
            name: stock-check
            account: kookeey
            request:
              method: GET
              path: /stock
              params:
                g: "{{item}}"
            items:
              range: 1..30
            """)
        let plan = try await PacerProcess.finish(["plan", job, "--json", "--db", h.dbPath])
        #expect(plan.status == 0, "\(plan.stderr)")
        let parsed = try JSONValue(parsing: plan.stdout)
        let run = try #require(parsed["runs"]?[0])
        #expect(run["job"] == .string("stock-check") && run["account"] == .string("kookeey"))
        #expect(run["calls"] == .number("30"))
        #expect(run["pools"]?[0]?["pool"] == .string("default") && run["pools"]?[0]?["weight"] == .number("1"))
        #expect(run["sample"]?[0] == .object([.init("method", .string("GET")), .init("path", .string("/stock")),
                                              .init("params", .object([.init("g", .string("1"))]))]))
        guard case .number(let text)? = parsed["eta_seconds"], let eta = Double(text) else {
            Issue.record("no eta_seconds in \(plan.stdout)"); return
        }
        // 45 calls at 10/1s: four more windows (of 1 s and the 5 ms margin) after the first.
        #expect(abs(eta - 4.02) < 0.001, "eta \(eta)")
        #expect(try h.store.status().runs.count == 1, "plan queued something")

        let enqueued = try await PacerProcess.finish(["enqueue", job, "--db", h.dbPath])
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        let sent = try await PacerProcess.finish(["run", "--drain", "--max-seconds", "30", "--db", h.dbPath],
                                        environment: RunnerHarness.environment, timeoutSeconds: 40)
        #expect(sent.status == 0, "\(sent.stderr)")
        var lastAnswer: Int64 = 0
        try h.store.results(run: nil) { lastAnswer = max(lastAnswer, $0.finishedAtMilliseconds ?? 0) }
        let firstSend = try await h.sqlite.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(started_at) FROM attempts") ?? 0
        }
        // The dashboard's history, written by the runner in aggregate: every call's weight, no window over.
        let history = try h.store.history(account: "kookeey", since: 0)
        await h.stop()
        #expect(history.buckets.reduce(0) { $0 + $1.sent } == 45)
        #expect(history.buckets.allSatisfy { $0.sent <= 10 && $0.widthMilliseconds == 1_000 }, "\(history.buckets)")
        let measured = Double(lastAnswer - firstSend) / 1000
        // The limits cannot make a run faster than planned; a loaded machine (the suite runs in parallel) makes it
        // slower. How close the plan comes on a quiet machine is measured by `pacer-bench runner` (within 10%).
        #expect(measured >= 0.9 * eta, "plan said \(eta) s, the run took \(measured) s")
    }

    /// Every shipped example plans: its calls and an estimate, nothing queued.
    @Test func everyExampleJobPlans() async throws {
        let h = try await RunnerHarness(configured: "10/1s")
        for p in Provider.allCases {
            try h.store.addAccount(Account(name: "\(p.rawValue)-main", provider: p, baseURL: h.running.baseURL(p),
                                           limit: RateLimit(parsing: "10/1s")!,
                                           credentials: CredentialReferences(key: "k", secretEnv: "S",
                                                                             passphraseEnv: p == .kucoin ? "P" : nil)),
                                   replace: false, nowMilliseconds: 0)
        }
        let jobs = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("jobs").path)
            .filter { $0.hasSuffix(".yaml") }.sorted().map { repositoryRoot.appendingPathComponent("jobs/\($0)").path }
        let plan = try await PacerProcess.finish(["plan"] + jobs + ["--db", h.dbPath])
        let dry = try await PacerProcess.finish(["enqueue", "--dry-run"] + jobs + ["--db", h.dbPath])
        await h.stop()
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(dry.stdout == plan.stdout)
        for job in jobs {
            let name = URL(fileURLWithPath: job).deletingPathExtension().lastPathComponent
            #expect(plan.stdout.contains("\n\(name) on "), "\(name) is missing from the plan")
        }
        #expect(plan.stdout.contains("limits alone:"))
        #expect(try h.store.status().runs.isEmpty, "plan queued something")
    }
}
