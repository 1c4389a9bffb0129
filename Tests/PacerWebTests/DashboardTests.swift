import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PacerCore
import PacerOperations
import PacerPostgres
import PacerStorage
import PacerTestSupport
import PacerWeb
import Testing

/// A store with one account and two runs: run A (three calls: succeeded, failed with code 10006, dead) finished,
/// and run B with two calls still queued; and a second account, paused.
struct DashboardFixture {
    let store: any PacerStore
    let db: String
    let finished: Int64
    let running: Int64
    let calls: [Int64]

    init(_ database: TestDatabase, in dir: TempDir) throws {
        let (store, db) = try database.open(in: dir)
        self.db = db
        self.store = store
        for (name, provider) in [("kc-main", Provider.kucoin), ("kk-spare", .kookeey)] {
            try store.addAccount(Account(name: name, provider: provider, baseURL: "http://127.0.0.1:9/x",
                                         limit: RateLimit(count: 10, windowMilliseconds: 1_000),
                                         credentials: CredentialReferences(key: "k", secretEnv: "S",
                                                                           passphraseEnv: provider == .kucoin ? "P" : nil)),
                                 replace: false, nowMilliseconds: 0)
        }
        try store.pauseAccount("kk-spare", reason: "auth: key revoked", nowMilliseconds: 1)
        func run(_ job: String, _ n: Int) throws -> Int64 {
            try store.enqueue([RunToEnqueue(run: NewRun(job: job, account: "kc-main", jobFile: "\(job).yaml",
                                                        retry: .default, createdAtMilliseconds: 0)) { emit in
                for i in 0..<n {
                    try emit(NewCall(index: i, method: .delete, path: "/api/v1/orders/\(job)-\(i)", params: "{}",
                                     body: nil, weight: 1, idempotent: true))
                }
            }])[0].run
        }
        let finished = try run("cancel-stale", 3)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { now })
        let claimed = try store.claim(account: "kc-main", runner: "r", nowMilliseconds: now, leaseUntil: now + 30_000, max: 3)
        _ = try store.spend(account: "kc-main", calls: claimed.map { ($0.id, 1) }, runner: "r", now: { now },
                            windowMilliseconds: 1_000, configuredCount: 10)
        func answer(_ call: ClaimedCall, _ state: CallState, _ code: String) -> Completion {
            Completion(call: call.id, runner: "r", startedAt: now, latencyMilliseconds: 20, httpStatus: 200, code: code,
                       classification: state == .succeeded ? "ok" : "permanent", message: nil, state: state,
                       attempts: 1, nextAttemptAt: 0, data: nil, error: state == .succeeded ? nil : "refused", finishedAt: now)
        }
        try store.complete([answer(claimed[0], .succeeded, "200000"), answer(claimed[1], .failed, "10006"),
                            answer(claimed[2], .dead, "500000")])
        try store.unregisterRunner("r")
        self.finished = finished
        calls = claimed.map(\.id)
        running = try run("place-orders", 2)
    }
}

/// The dashboard's JSON API on both stores: the commands' shapes, bad input refused with nothing changed, and
/// the token.
@Suite struct DashboardAPITests {
    let dir = TempDir()

    struct Answer { let status: Int; let json: JSONValue }

    static func request(_ url: String, method: String = "GET", body: String? = nil, token: String? = nil,
                        contentType: String? = "application/json") async throws -> Answer {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if method == "POST", let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let body { request.httpBody = Data(body.utf8) }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let text = String(decoding: data, as: UTF8.self)
        return Answer(status: (response as! HTTPURLResponse).statusCode, json: (try? JSONValue(parsing: text)) ?? .string(text))
    }

    @Test(arguments: TestDatabase.allCases)
    func theAPIMirrorsTheCommands(_ database: TestDatabase) async throws {
        let f = try DashboardFixture(database, in: dir)
        let (port, stop) = try await Dashboard(store: f.store, token: nil, now: { Int64(Date().timeIntervalSince1970 * 1000) })
            .start(host: "127.0.0.1", port: 0)
        defer { Task { await stop() } }
        let base = "http://127.0.0.1:\(port)/api"

        let status = try await Self.request(base + "/status")
        #expect(status.status == 200)
        #expect(status.json["runs"]?[0]?["job"] == .string("cancel-stale"))
        #expect(status.json["runs"]?[0]?["counts"]?["failed"] == .number("1"))
        #expect(status.json["accounts"]?[1]?["reason"] == .string("auth: key revoked"))
        let newest = try await Self.request(base + "/status?runs=1")
        #expect(newest.json["runs"]?[0]?["job"] == .string("place-orders") && newest.json["runs"]?[1] == nil)
        #expect(newest.json["runs_total"] == .number("2"))

        let page = try await Self.request(base + "/runs/\(f.finished)/calls?limit=2")
        #expect(page.json["calls"]?[0]?["state"] == .string("succeeded"))
        #expect(page.json["next_after"] == .number(String(f.calls[1])))
        let rest = try await Self.request(base + "/runs/\(f.finished)/calls?limit=2&after=\(f.calls[1])")
        #expect(rest.json["calls"]?[0]?["state"] == .string("dead") && rest.json["next_after"] == .null)
        let byCode = try await Self.request(base + "/runs/\(f.finished)/calls?code=10006")
        #expect(byCode.json["calls"]?[0]?["call"] == .number(String(f.calls[1])))
        #expect(try await Self.request(base + "/runs/\(f.finished)/calls?state=exploded").status == 400)
        #expect(try await Self.request(base + "/runs/424242/calls").status == 404)
        #expect(try await Self.request(base + "/runs/abc/calls").status == 400)

        let call = try await Self.request(base + "/calls/\(f.calls[1])")
        #expect(call.json["attempts"]?[0]?["code"] == .string("10006") && call.json["result"]?["error"] == .string("refused"))
        #expect(try await Self.request(base + "/calls/999999").status == 404)

        // Refusals change nothing.
        #expect(try await Self.request(base + "/runs/\(f.running)/retry", method: "POST").status == 409)
        #expect(try await Self.request(base + "/runs/\(f.finished)/retry", method: "POST", body: "{").status == 400)
        #expect(try await Self.request(base + "/runs/\(f.finished)/retry", method: "POST",
                                       body: #"{"states":["succeeded"]}"#).status == 400)
        #expect(try await Self.request(base + "/runs/\(f.finished)/retry").status != 200, "actions are POST only")
        #expect(try await Self.request(base + "/accounts/nobody/resume", method: "POST").status == 404)
        // What a form or a no-cors fetch from another web page could send: refused before anything happens.
        #expect(try await Self.request(base + "/runs/\(f.finished)/retry", method: "POST", body: #"{"states":["failed"]}"#,
                                       contentType: "text/plain").status == 415)
        #expect(try await Self.request(base + "/accounts/kk-spare/resume", method: "POST", contentType: nil).status == 415)
        #expect(try f.store.calls(run: f.finished, state: nil, code: nil, after: nil, limit: 9).map(\.state)
                == [.succeeded, .failed, .dead])

        let retried = try await Self.request(base + "/runs/\(f.finished)/retry", method: "POST", body: #"{"states":["failed"]}"#)
        #expect(retried.status == 200 && retried.json["calls"] == .number("1"))
        #expect(try f.store.calls(run: f.finished, state: nil, code: nil, after: nil, limit: 9).map(\.state)
                == [.succeeded, .queued, .dead])
        let cancelled = try await Self.request(base + "/runs/\(f.running)/cancel", method: "POST")
        #expect(cancelled.json == (try JSONValue(parsing: #"{"run":\#(f.running),"action":"cancel","calls":2}"#)))
        #expect(try await Self.request(base + "/accounts/kk-spare/resume", method: "POST").status == 200)
        #expect(try f.store.account(named: "kk-spare")?.pausedReason == nil)
    }

    /// Every pool's fill in `GET /api/status` (Contract 4's `pools`): an account's named pools with each window,
    /// and the shared pools its accounts name.
    @Test(arguments: TestDatabase.allCases)
    func statusShowsEveryPool(_ database: TestDatabase) async throws {
        let f = try DashboardFixture(database, in: dir)
        try f.store.addSharedPool(SharedPool(name: "office-ip", windows: [RateLimit(count: 30, windowMilliseconds: 1_000)]),
                                  replace: false, nowMilliseconds: 0)
        var account = try #require(try f.store.account(named: "kc-main"))
        account.limits = AccountLimits(pools: try AccountLimits(parsing: ["spot=40/3s", "spot=400/30s", "management=20/3s"]).pools,
                                       shared: ["office-ip"])
        try f.store.addAccount(account, replace: true, nowMilliseconds: 0)
        let (port, stop) = try await Dashboard(store: f.store, token: nil, now: { Int64(Date().timeIntervalSince1970 * 1000) })
            .start(host: "127.0.0.1", port: 0)
        defer { Task { await stop() } }
        let status = try await Self.request("http://127.0.0.1:\(port)/api/status")
        guard case .array(let pools)? = status.json["pools"] else { Issue.record("no pools: \(status.json)"); return }
        let mine = pools.filter { $0["account"] == .string("kc-main") }
        #expect(mine.map { $0["pool"] } == [.string("management"), .string("spot")])
        #expect(mine[1]["windows"]?[1]?["limit"] == .string("400/30s") && mine[1]["windows"]?[1]?["spent"] == .number("0"))
        #expect(pools.contains { $0["pool"] == .string("office-ip") && $0["account"] == .null })
        #expect(pools.contains { $0["account"] == .string("kk-spare") && $0["pool"] == .string("default") })
    }

    @Test func aTokenGuardsEveryAPIRequest() async throws {
        let f = try DashboardFixture(.sqlite, in: dir)
        let (port, stop) = try await Dashboard(store: f.store, token: "s3cret-token", now: { 0 })
            .start(host: "127.0.0.1", port: 0)
        defer { Task { await stop() } }
        let base = "http://127.0.0.1:\(port)"
        #expect(try await Self.request(base + "/api/status").status == 401)
        #expect(try await Self.request(base + "/api/status", token: "wrong").status == 401)
        let refused = try await Self.request(base + "/api/runs/\(f.running)/cancel", method: "POST", token: "s3cret-tokeN")
        #expect(refused.status == 401)
        #expect(try f.store.calls(run: f.running, state: nil, code: nil, after: nil, limit: 9).map(\.state) == [.queued, .queued],
                "a refused action changes nothing")
        #expect(try await Self.request(base + "/api/status", token: "s3cret-token").status == 200)
        #expect(try await Self.request(base + "/").status == 200, "the page holds no data and is served to anyone")
    }
}

/// The dashboard as a browser renders it: `pacer web` over a store with known runs, and headless Chromium
/// (Debian's `chromium`, which `.ci/run` installs) printing the DOM once the page's scripts have run.
@Suite(.serialized) struct DashboardBrowserTests {
    let dir = TempDir()

    static func chromium() -> String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The DOM after scripts ran (bounded: Chromium's virtual time budget, and a 60 s kill).
    static func dom(_ url: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium()!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                             "--user-data-dir=" + FileManager.default.temporaryDirectory.appendingPathComponent("pacer-chromium-\(UUID())").path,
                             "--dump-dom", url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var data = Data()
        while process.isRunning && Date() < deadline {
            data.append(out.fileHandleForReading.availableData)
        }
        if process.isRunning { process.terminate() }
        data.append(out.fileHandleForReading.readDataToEndOfFile())
        return String(decoding: data, as: UTF8.self)
    }

    @Test(arguments: TestDatabase.allCases)
    func chromiumRendersRunsAccountsAndARetry(_ database: TestDatabase) async throws {
        try #require(Self.chromium() != nil, "install Debian's chromium (.ci/run does)")
        let f = try DashboardFixture(database, in: dir)
        let web = try PacerProcess.start(["web", "--db", f.db, "--port", "0"])
        defer { web.process.terminate(); web.process.waitUntilExit() }
        // `pacer web: http://127.0.0.1:PORT/#token=TOKEN`: a random token, since none was given.
        let line = web.readStdout(until: "\n", timeoutSeconds: 20)
        let match = try #require(line.firstMatch(of: /127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9]+)/), "pacer web printed \(line)")
        let base = "http://127.0.0.1:\(match.1)/", token = String(match.2)
        let unauthorized = try await DashboardAPITests.request(base + "api/status")
        #expect(unauthorized.status == 401, "the API wants the printed token")

        let overview = try Self.dom(base + "#token=\(token)")
        #expect(overview.contains(#"<td class="job">cancel-stale</td>"#), "the run is rendered")
        #expect(overview.contains("paused: auth: key revoked"), "the paused account and its reason")
        #expect(overview.contains(#"data-action="retry" data-run="\#(f.finished)""#), "a retry button for the finished run")
        #expect(overview.contains("failed=1") && overview.contains("dead=1"))

        let run = try Self.dom(base + "#run=\(f.finished)&state=failed&token=\(token)")
        #expect(run.contains(##"<a href="#call=\##(f.calls[1])">\##(f.calls[1])</a>"##) && run.contains("10006"))
        let call = try Self.dom(base + "#call=\(f.calls[1])&token=\(token)")
        #expect(call.contains(#"<td class="call-state">failed</td>"#) && call.contains("permanent"))

        // The retry the button sends; the page then shows the calls back in the queue.
        let retried = try await DashboardAPITests.request(base + "api/runs/\(f.finished)/retry", method: "POST",
                                                          body: #"{"states":["failed","dead"]}"#, token: token)
        #expect(retried.json["calls"] == .number("2"))
        let after = try Self.dom(base + "#token=\(token)")
        #expect(after.contains("queued=2") && !after.contains(#"data-action="retry" data-run="\#(f.finished)""#))
    }
}

/// The account page's history chart, as Chromium renders it: the buckets sent, a refusal at its minute, and the
/// cool-down it started, read back from the DOM. In the same serialized suite as the other browser test, so two
/// Chromiums never compete for the machine with the timing-sensitive suites.
extension DashboardBrowserTests {
    /// The ISO instants of `attribute` on elements of `class` in the DOM.
    static func instants(_ dom: String, class name: String, attribute: String) -> [Date] {
        let pattern = try! Regex("class=\"\(name)\"[^>]*\(attribute)=\"([^\"]+)\"")
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return dom.matches(of: pattern).compactMap { match in
            (match.output[1].substring).flatMap { parser.date(from: String($0)) }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func chromiumDrawsARefusalAndItsCoolDownAtTheirMinute(_ database: TestDatabase) async throws {
        try #require(DashboardBrowserTests.chromium() != nil, "install Debian's chromium (.ci/run does)")
        let f = try DashboardFixture(database, in: dir)
        let wall = Int64(Date().timeIntervalSince1970 * 1000)
        let now = f.store.localClock?() ?? wall // the store's clock, on which history is written
        let second = now - now % 1_000
        let refusedAt = second - 120_000
        try f.store.addHistory([
            HistoryBucket(account: "kc-main", start: second - 3_000, widthMilliseconds: 1_000, sent: 10, refused: 0),
            HistoryBucket(account: "kc-main", start: second - 2_000, widthMilliseconds: 1_000, sent: 10, refused: 0),
            HistoryBucket(account: "kc-main", start: refusedAt, widthMilliseconds: 1_000, sent: 9, refused: 1),
        ])
        // A refusal answered now with Retry-After 5 s: the limiter's rules start a cool-down and record it.
        try f.store.recordRateLimit(account: "kc-main", call: f.calls[0], runner: "r", sentAt: now - 100,
                                    nowMilliseconds: now, retryAfterMilliseconds: 5_000, windowMilliseconds: 1_000,
                                    configuredCount: 10)
        let web = try PacerProcess.start(["web", "--db", f.db, "--port", "0"])
        defer { web.process.terminate(); web.process.waitUntilExit() }
        let line = web.readStdout(until: "\n", timeoutSeconds: 20)
        let match = try #require(line.firstMatch(of: /127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9]+)/), "pacer web printed \(line)")
        let base = "http://127.0.0.1:\(match.1)/", token = String(match.2)

        let api = try await DashboardAPITests.request(base + "api/accounts/kc-main/history?minutes=15", token: token)
        #expect(api.status == 200)
        #expect(api.json["pools"]?[0]?["limit"] == .string("10/1s"))
        #expect(try await DashboardAPITests.request(base + "api/accounts/kc-main/history?minutes=0", token: token).status == 400)
        #expect(try await DashboardAPITests.request(base + "api/accounts/nobody/history", token: token).status == 404)
        // The overview's page of accounts: filtered by name on the server, counted before paging.
        let page = try await DashboardAPITests.request(base + "api/status?accounts=1&offset=0&filter=SPARE", token: token)
        #expect(page.json["accounts_total"] == .number("2") && page.json["accounts_matching"] == .number("1"))
        #expect(page.json["accounts"]?[0]?["account"] == .string("kk-spare") && page.json["accounts"]?[1] == nil)

        let dom = try DashboardBrowserTests.dom(base + "#account=kc-main&token=\(token)")
        // (The page's own script holds the same markup with `${...}` where the values go: only digits count.)
        #expect(dom.matches(of: /<rect class="sent" data-at="\d/).count == 3, "\(dom.prefix(2_000))")
        #expect(dom.contains(#"<span id="sent-total">29</span>"#) && dom.contains(#"<span id="refused-total">1</span>"#))
        let refusals = Self.instants(dom, class: "refused", attribute: "data-at")
        let coolDowns = Self.instants(dom, class: "cooldown", attribute: "data-from")
        #expect(refusals.count == 1 && coolDowns.count == 1, "\(dom.prefix(2_000))")
        // At the right minute: the instants shown are the wall-clock ones of what was recorded.
        let refusedWall = Double(wall - (now - refusedAt)) / 1000
        if let shown = refusals.first { #expect(abs(shown.timeIntervalSince1970 - refusedWall) < 1.5) }
        if let shown = coolDowns.first { #expect(abs(shown.timeIntervalSince1970 - Double(wall) / 1000) < 5) }

        // A run's progress: its calls finished per 10 s, the rate and what is left.
        let progress = try await DashboardAPITests.request(base + "api/runs/\(f.finished)/progress", token: token)
        #expect(progress.json["done"] == .number("3") && progress.json["total"] == .number("3"))
        #expect(progress.json["eta_seconds"] == .number("0") && progress.json["buckets"]?[0]?["finished"] == .number("3"))
        #expect(try await DashboardAPITests.request(base + "api/runs/999999/progress", token: token).status == 404)
        let runPage = try DashboardBrowserTests.dom(base + "#run=\(f.finished)&token=\(token)")
        #expect(runPage.contains("3/3 done") && runPage.matches(of: /data-finished="3"/).count == 1, "\(runPage.prefix(1_500))")

        // The overview links each account to its page and filters by name.
        let overview = try DashboardBrowserTests.dom(base + "#token=\(token)")
        #expect(overview.contains(##"<a href="#account=kc-main">kc-main</a>"##))
        #expect(overview.contains(#"id="account-filter""#))
    }
}
