import Foundation
import PacerCore
import PacerJobs
import PacerStore
import PacerTestSupport
import Testing
@testable import PacerCLI

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
