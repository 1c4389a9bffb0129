import GRDB
import Foundation
import PacerCore
import PacerJobs
@testable import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI
@testable import PacerQueue
import PacerSQLite

@Suite struct EnqueueTests {
    let dir = TempDir()
    let store: SQLiteStore

    init() throws {
        store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.sqlite").path)
        for (name, provider) in [("kookeey-main", Provider.kookeey), ("kucoin-main", .kucoin),
                                 ("bitunix-main", .bitunix), ("bitz-main", .bitz), ("acct", .kookeey)] {
            try store.addAccount(Account(name: name, provider: provider, baseURL: "http://127.0.0.1:9",
                                         limit: RateLimit(count: 10, windowMilliseconds: 1000),
                                         credentials: CredentialReferences(key: "k", secretEnv: "S")),
                                 replace: false, nowMilliseconds: 0)
        }
    }

    var enqueuer: Enqueuer { Enqueuer(store: store, nowMilliseconds: { 1_000 }) }

    func queuedCalls() throws -> Int {
        var n = 0
        try store.results(run: nil) { _ in n += 1 }
        return n
    }

    @Test func shippedExamplesEnqueueWithTheExpectedFanOut() throws {
        let jobs = repositoryRoot.appendingPathComponent("jobs")
        let files = ["kookeey-inventory", "kookeey-renew-lines", "kucoin-cancel-stale", "bitunix-batch-cancel",
                     "bitz-bulk-cancel", "kucoin-cancel-all-subaccounts", "kookeey-renew-by-account"]
            .map { jobs.appendingPathComponent("\($0).yaml").path }
        let runs = try enqueuer.enqueue(files: files)
        // 3 groups; 4 lines; 5 rows; 45 ids by 20; 250 ids by 100; one sweep per kucoin-* account; 3 routed rows
        #expect(runs.map(\.calls) == [3, 4, 5, 3, 3, 1, 3])
        #expect(runs[5].account == "kucoin-main" && runs[6].account == "kookeey-main")
        #expect(try queuedCalls() == 22)
        var bitz: [ResultRecord] = []
        try store.results(run: runs[4].run) { bitz.append($0) }
        #expect(bitz.map { $0.params.split(separator: ",").count } == [100, 100, 50])
    }

    /// Each kind of bad input: the error names file, line, column and field, and nothing is written.
    @Test(arguments: [
        ("request:\n  method: GET\n  path: /p\nname: x\naccount: nobody\n", "5:10: account", "no account named 'nobody'"),
        ("name: x\naccount: acct\nrequest:\n  method: GET\n  path: /p\nweight: 11\n", "6:9: weight", "never be sent"),
        ("name: x\naccount: acct\nrequest:\n  method: GET\n  path: /p\n  extra: 1\n", "6:3: request.extra", "unknown key"),
        ("name: x\naccount: acct\nrequest:\n  method: GET\n  path: /p/{{item.id}}\nitems:\n  file: ids.csv\n",
         "7:9: items.column", "no column 'id'"),
    ])
    func badFileWritesNothing(yaml: String, position: String, expected: String) throws {
        dir.write("ids.csv", "orderId\n1\n")
        let good = dir.write("good.yaml", "name: good\naccount: acct\nrequest:\n  method: GET\n  path: /p\n")
        let bad = dir.write("bad.yaml", yaml)
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [good, bad]) }
        #expect(error.description.hasPrefix("\(bad):\(position): "), "got: \(error)")
        #expect(error.message.contains(expected), "got: \(error)")
        #expect(try store.status().runs.isEmpty)
        #expect(try queuedCalls() == 0)
    }

    /// Pools at enqueue (docs/pools.md): the endpoint table's pool and weight, a job's `pool:`, `weight:` and
    /// `priority:`, and the calls that could never be sent refused with file, line and field.
    @Test func callsCarryTheirPoolsWeightAndPriority() throws {
        var kucoin = try #require(try store.account(named: "kucoin-main"))
        kucoin.limits = try AccountLimits(parsing: ["spot=40/1s", "management=20/1s"])
        try store.addAccount(kucoin, replace: true, nowMilliseconds: 0)
        let cancelAll = dir.write("cancel-all.yaml", "name: cancel-all\naccount: kucoin-main\npriority: 10\nrequest:\n"
                                  + "  method: DELETE\n  path: /api/v1/hf/orders/cancelAll\n")
        let reads = dir.write("reads.yaml", "name: reads\naccount: kucoin-main\npool: management\nweight: 4\nrequest:\n"
                              + "  method: GET\n  path: /api/v1/orders\n")
        let runs = try enqueuer.enqueue(files: [cancelAll, reads])
        #expect(runs.map(\.pools) == [["spot"], ["management"]])
        #expect(runs.map(\.weight) == [30, 4])
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim(account: "kucoin-main", runner: "r", nowMilliseconds: 2_000, leaseUntil: 9_000, max: 5)
        #expect(claimed.map(\.pools) == [PoolDemand(names: ["spot"]), PoolDemand(names: ["management"])])
        #expect(claimed.map(\.weight) == [30, 4])
    }

    /// A path whose template sits where the endpoint table tells endpoints apart is costed call by call; a job's
    /// `pool:` replaces the endpoint's own pool and keeps the table's others (Bit-Z's overall minute).
    @Test func templatedPathsAreCostedCallByCall() throws {
        var kucoin = try #require(try store.account(named: "kucoin-main"))
        kucoin.limits = try AccountLimits(parsing: ["4000/30s", "management=2000/30s"])
        try store.addAccount(kucoin, replace: true, nowMilliseconds: 0)
        let kinds = dir.write("kinds.yaml", "name: kinds\naccount: kucoin-main\nrequest:\n  method: GET\n"
                              + "  path: /api/v1/{{item}}\nitems:\n  list: [fills, accounts, symbols]\n")
        let bitz = dir.write("bitz.yaml", "name: bz\naccount: bitz-main\npool: burst\nrequest:\n  method: POST\n"
                             + "  path: /Trade/cancelEntrustSheet\n")
        var bz = try #require(try store.account(named: "bitz-main"))
        bz.limits = try AccountLimits(parsing: ["5000/1m", "burst=30/1s"])
        try store.addAccount(bz, replace: true, nowMilliseconds: 0)
        _ = try enqueuer.enqueue(files: [kinds, bitz])
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 0 })
        let claimed = try store.claim(account: "kucoin-main", runner: "r", nowMilliseconds: 2_000, leaseUntil: 9_000, max: 5)
        #expect(claimed.map(\.weight) == [10, 5, 4])
        #expect(claimed.map(\.pools) == [PoolDemand(names: ["spot"]), PoolDemand(names: ["management"]),
                                         PoolDemand(names: ["public"], ipOnly: true)])
        let other = try store.claim(account: "bitz-main", runner: "r", nowMilliseconds: 2_000, leaseUntil: 9_000, max: 5)
        #expect(other.map(\.pools) == [PoolDemand(names: ["burst", ""])])
    }

    @Test(arguments: [
        // Only named pools, and an endpoint that draws from the default pool.
        ("name: x\naccount: kucoin-main\nrequest:\n  method: GET\n  path: /api/v1/timestamp\n", "4:3: request",
         "no default pool (its pools: management, spot)"),
        ("name: x\naccount: kucoin-main\npool: futures\nrequest:\n  method: GET\n  path: /p\n", "3:7: pool",
         "has no pool 'futures' (its pools: management, spot)"),
        ("name: x\naccount: kucoin-main\nweight: 41\nrequest:\n  method: GET\n  path: /api/v1/orders\n", "3:9: weight",
         "weight 41 is more than pool 'spot'"),
        ("name: x\naccount: kucoin-main\npriority: 1001\nrequest:\n  method: GET\n  path: /p\n", "3:11: priority",
         "from 0 to 1000"),
    ])
    func poolsThatCannotServeAJobAreRefused(yaml: String, position: String, expected: String) throws {
        var kucoin = try #require(try store.account(named: "kucoin-main"))
        kucoin.limits = try AccountLimits(parsing: ["spot=40/1s", "management=20/1s"])
        try store.addAccount(kucoin, replace: true, nowMilliseconds: 0)
        let bad = dir.write("bad.yaml", yaml)
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [bad]) }
        #expect(error.description.hasPrefix("\(bad):\(position): "), "got: \(error)")
        #expect(error.message.contains(expected), "got: \(error)")
        #expect(try queuedCalls() == 0)
    }

    @Test func aBadLineDeepInAnItemsFileRollsBackEveryFile() throws {
        var lines = (1...5_000).map { "\($0)\n" }.joined()
        lines += "ok\n"
        let path = dir.url.appendingPathComponent("ids.txt")
        var data = Data(lines.utf8)
        data.append(contentsOf: [0xFF, 0xFE, 0x0A]) // line 5002 is not UTF-8
        try data.write(to: path)
        let good = dir.write("good.yaml", "name: good\naccount: acct\nrequest:\n  method: GET\n  path: /p\n")
        let bad = dir.write("bad.yaml", "name: bad\naccount: acct\nrequest:\n  method: GET\n  path: /p/{{item}}\nitems:\n  file: ids.txt\n")
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [good, bad]) }
        #expect(error.file == path.path)
        #expect(error.line == 5002)
        #expect(try store.status().runs.isEmpty)
        #expect(try queuedCalls() == 0)
    }

    @Test func twoFilesWithTheSameJobNameAreRefused() throws {
        let a = dir.write("a.yaml", "name: same\naccount: acct\nrequest:\n  method: GET\n  path: /p\n")
        let b = dir.write("b.yaml", "name: same\naccount: acct\nrequest:\n  method: GET\n  path: /q\n")
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [a, b]) }
        #expect(error.field == "name")
        #expect(try queuedCalls() == 0)
    }
}

/// `{{key}}` at enqueue: calls are marked keyed only where the key sits in their provider's dedupe field, and an
/// order that could be keyed and is not is warned about (refused with `--strict`).
@Suite struct KeyedEnqueueTests {
    let dir = TempDir()
    let store: SQLiteStore

    init() throws {
        store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.sqlite").path)
        for (name, provider) in [("kucoin-main", Provider.kucoin), ("bitunix-main", .bitunix), ("kookeey-main", .kookeey)] {
            try store.addAccount(Account(name: name, provider: provider, baseURL: "http://127.0.0.1:9",
                                         limit: RateLimit(count: 10, windowMilliseconds: 1000),
                                         credentials: CredentialReferences(key: "k", secretEnv: "S")),
                                 replace: false, nowMilliseconds: 0)
        }
    }

    func job(_ name: String, account: String, method: String = "POST", path: String, params: String,
             idempotent: Bool = false) -> String {
        dir.write("\(name).yaml", """
            name: \(name)
            account: \(account)
            request:
              method: \(method)
              path: \(path)
              params:
            \(params)
            items:
              range: 1..3
            idempotent: \(idempotent)
            """)
    }

    func rows() throws -> [(job: String, key: String?, keyed: Bool)] {
        try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT r.job, c.call_key, c.keyed FROM calls c JOIN runs r ON r.id = c.run_id ORDER BY c.id")
                .map { ($0["job"], $0["call_key"], $0["keyed"]) }
        }
    }

    @Test func keyedOnlyInTheDedupeField() throws {
        let files = [
            job("kucoin", account: "kucoin-main", path: "/api/v1/orders", params: "    clientOid: \"{{key}}\"\n    price: \"{{item}}\""),
            job("bitunix", account: "bitunix-main", path: "/api/v1/futures/trade/place_order",
                params: "    clientId: \"{{key}}\"\n    qty: \"{{item}}\""),
            job("kookeey", account: "kookeey-main", method: "GET", path: "/order",
                params: "    orderno: \"{{key}}\"\n    n: \"{{item}}\""),
            // The key in a field the provider does not deduplicate on, and a dedupe field that holds more than the
            // key (the order is looked up by the bare key): keys, but not keyed.
            job("memo", account: "kucoin-main", path: "/api/v1/orders",
                params: "    clientOid: \"ord-{{key}}\"\n    remark: \"{{key}}\"\n    n: \"{{item}}\""),
        ]
        var warnings: [JobFileError] = []
        _ = try Enqueuer(store: store, nowMilliseconds: { 0 }).enqueue(files: files, warn: { warnings.append($0) })
        let all = try rows()
        #expect(all.count == 12)
        #expect(all.allSatisfy { $0.key.map(CallKey.isValid) == true })
        #expect(Set(all.compactMap(\.key)).count == 12)
        #expect(all.filter(\.keyed).map(\.job) == Array(repeating: "kucoin", count: 3) + Array(repeating: "bitunix", count: 3)
                + Array(repeating: "kookeey", count: 3))
        // The memo job places orders without a key in clientOid: warned about, with where to put it.
        #expect(warnings.count == 1)
        #expect(warnings.first?.file == files[3] && warnings.first?.field == "request")
        #expect(warnings.first?.message.contains("clientOid: \"{{key}}\"") == true)
    }

    /// Kookeey places orders with GETs: a job that does not say `idempotent` is not idempotent on an order
    /// method (a lost answer must not buy twice), is warned about without a key and refused by `--strict`; its
    /// reads stay idempotent, and a job that says `idempotent: true` is taken at its word.
    @Test func aKookeeyOrderIsNotIdempotentByDefault() throws {
        func kookeey(_ name: String, path: String, params: String, idempotent: String? = nil) -> String {
            dir.write("\(name).yaml", """
                name: \(name)
                account: kookeey-main
                request:
                  method: GET
                  path: \(path)
                  params:
                \(params)
                items:
                  range: 1..2
                \(idempotent.map { "idempotent: \($0)" } ?? "")
                """)
        }
        let order = kookeey("buy", path: "/order", params: "    n: \"{{item}}\"")
        let enqueuer = Enqueuer(store: store, nowMilliseconds: { 0 })
        let refused = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [order], strict: true) }
        #expect(refused.message.contains("orderno"), "\(refused)")
        var warnings: [JobFileError] = []
        _ = try enqueuer.enqueue(files: [order, kookeey("stock", path: "/stock", params: "    g: \"{{item}}\""),
                                         kookeey("sure", path: "/order", params: "    n: \"{{item}}\"", idempotent: "true")],
                                 warn: { warnings.append($0) })
        #expect(warnings.map(\.file) == [order])
        let idempotent = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT r.job, c.idempotent FROM calls c JOIN runs r ON r.id = c.run_id ORDER BY c.id")
                .map { "\($0["job"] as String)=\($0["idempotent"] as Bool)" }
        }
        #expect(idempotent == ["buy=false", "buy=false", "stock=true", "stock=true", "sure=true", "sure=true"])
    }

    @Test func strictRefusesAnUnkeyedOrderAndQueuesNothing() throws {
        let unkeyed = job("unkeyed", account: "bitunix-main", path: "/api/v1/futures/trade/place_order",
                          params: "    qty: \"{{item}}\"")
        let fine = job("fine", account: "kucoin-main", path: "/api/v1/orders", params: "    clientOid: \"{{key}}\"\n    p: \"{{item}}\"")
        let enqueuer = Enqueuer(store: store, nowMilliseconds: { 0 })
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [fine, unkeyed], strict: true) }
        #expect(error.file == unkeyed && error.message.contains("clientId"))
        #expect(try rows().isEmpty)
        // Idempotent calls and endpoints without a dedupe field are never warned about.
        let cancel = job("cancel", account: "bitunix-main", path: "/api/v1/futures/trade/cancel_orders", params: "    id: \"{{item}}\"")
        let read = job("read", account: "kucoin-main", path: "/api/v1/orders", params: "    p: \"{{item}}\"", idempotent: true)
        _ = try enqueuer.enqueue(files: [cancel, read], strict: true)
        #expect(try rows().count == 6)
    }
}
