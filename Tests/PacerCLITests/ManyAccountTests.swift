import Foundation
import PacerCore
import PacerJobs
import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI
@testable import PacerQueue
import PacerSQLite

/// Jobs over many accounts (Contract 3): `accounts:` names and globs, items routed by `account: "{{item.account}}"`,
/// and the `{{account}}` placeholder.
@Suite struct ManyAccountTests {
    let dir = TempDir()
    let store: SQLiteStore

    init() throws {
        store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.sqlite").path)
        for name in ["broker-a", "broker-b", "broker-c", "solo", "kookeey-main"] {
            try store.addAccount(Account(name: name, provider: .kookeey, baseURL: "http://127.0.0.1:9",
                                         limit: RateLimit(count: 10, windowMilliseconds: 1000),
                                         credentials: CredentialReferences(key: "k", secretEnv: "S")),
                                 replace: false, nowMilliseconds: 0)
        }
    }

    var enqueuer: Enqueuer { Enqueuer(store: store, nowMilliseconds: { 1_000 }) }

    /// A job that renews the lines of `lines.csv`, each on the account its `route` column names.
    func routedRenewal(route: String = "account", params: String = "") -> String {
        dir.write("renew.yaml", """
            name: renew
            account: "{{item.\(route)}}"
            request:
              method: GET
              path: /renew/{{item.line}}
            \(params)
            items:
              file: lines.csv
            """)
    }

    func records() throws -> [ResultRecord] {
        var out: [ResultRecord] = []
        try store.results(run: nil) { out.append($0) }
        return out
    }

    @Test func globsMakeOneRunPerMatchingAccount() throws {
        let file = dir.write("sweep.yaml", """
            name: sweep
            accounts: ["broker-*", solo, "broker-a"]
            request:
              method: GET
              path: /stock
              params:
                g: "{{item}}"
                by: "{{account}}"
            items:
              list: [1, 2]
            """)
        let runs = try enqueuer.enqueue(files: [file])
        #expect(runs.map(\.account) == ["broker-a", "broker-b", "broker-c", "solo"])
        #expect(runs.allSatisfy { $0.calls == 2 && $0.job == "sweep" })
        let params = try records().filter { $0.account == "broker-b" }.map(\.params)
        #expect(params == [#"{"g":"1","by":"broker-b"}"#, #"{"g":"2","by":"broker-b"}"#])
    }

    @Test func aGlobThatMatchesNothingIsRefused() throws {
        let file = dir.write("none.yaml", "name: none\naccounts: [nobody-*]\nrequest:\n  method: GET\n  path: /p\n")
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [file]) }
        #expect(error.description.hasPrefix("\(file):2:11: accounts: "), "\(error)")
        #expect(error.message.contains("no account matches 'nobody-*'"))
        #expect(try records().isEmpty)
    }

    @Test func itemsAreRoutedToTheAccountTheyName() throws {
        dir.write("lines.csv", "account,line\nbroker-b,L1\nsolo,L2\nbroker-b,L3\n")
        let file = routedRenewal(params: "  params:\n    by: \"{{account}}\"")
        let runs = try enqueuer.enqueue(files: [file])
        #expect(runs.map(\.account) == ["broker-b", "solo"])
        #expect(runs.map(\.calls) == [2, 1])
        let routed = try records().map { "\($0.account) \($0.path) \($0.params)" }
        #expect(routed == [#"broker-b /renew/L1 {"by":"broker-b"}"#, #"broker-b /renew/L3 {"by":"broker-b"}"#,
                           #"solo /renew/L2 {"by":"solo"}"#])
    }

    @Test func anUnknownAccountInTheItemsIsRefusedWithItsLineAndNothingIsQueued() throws {
        dir.write("lines.csv", "account,line\nbroker-a,L1\nghost,L2\n")
        let good = dir.write("good.yaml", "name: good\naccount: solo\nrequest:\n  method: GET\n  path: /p\n")
        let file = routedRenewal()
        let error = try #require(throws: JobFileError.self) { try enqueuer.enqueue(files: [good, file]) }
        #expect(error.file.hasSuffix("lines.csv") && error.line == 3, "\(error)")
        #expect(error.message.contains("'ghost'"))
        #expect(try records().isEmpty)
        #expect(try store.status().runs.isEmpty)
    }

    @Test(arguments: [
        ("name: x\naccount: a\naccounts: [b]\nrequest:\n  method: GET\n  path: /p\n", "3:1: accounts", "not both"),
        ("name: x\naccounts: []\nrequest:\n  method: GET\n  path: /p\n", "2:11: accounts", "expected a list"),
        ("name: x\naccount: \"x-{{item}}\"\nrequest:\n  method: GET\n  path: /p\nitems:\n  list: [1]\n",
         "2:10: account", "exactly"),
        ("name: x\naccount: \"{{item}}\"\nrequest:\n  method: GET\n  path: /p\n", "2:10: account", "no 'items'"),
        ("name: x\naccount: \"{{item}}\"\nrequest:\n  method: GET\n  path: /p/{{batch}}\nitems:\n  list: [a]\nbatch:\n  size: 2\n",
         "2:10: account", "batched"),
        ("request:\n  method: GET\n  path: /p\nname: x\n", "1:1: account", "missing"),
    ])
    func badTargetsAreRefusedWithTheirPosition(yaml: String, position: String, expected: String) throws {
        let file = dir.write("bad.yaml", yaml)
        let error = try #require(throws: JobFileError.self) { try JobFileParser.parse(file: file) }
        #expect(error.description.hasPrefix("\(file):\(position): "), "got: \(error)")
        #expect(error.message.contains(expected), "got: \(error)")
    }

    /// A routing column that the CSV does not have is an error of the job file, found when it is read.
    @Test func aRoutingColumnMissingFromTheCSVIsRefusedWhenTheFileIsRead() throws {
        dir.write("lines.csv", "account,line\nsolo,L1\n")
        let file = routedRenewal(route: "acct")
        let error = try #require(throws: JobFileError.self) { try JobFileParser.parse(file: file) }
        #expect(error.field == "items.column" && error.message.contains("no column 'acct'"), "\(error)")
    }

    /// A scheduled job over several accounts enqueues one run per account for each tick, once.
    @Test func aScheduledTickIsUniquePerAccount() throws {
        let file = dir.write("poll.yaml", "name: poll\naccounts: [broker-*]\nrequest:\n  method: GET\n  path: /stock\nschedule: \"*/5 * * * *\"\n")
        let spec = try JobFileParser.parse(file: file)
        let first = try enqueuer.enqueue(specs: [spec], scheduleTick: 300_000)
        let again = try enqueuer.enqueue(specs: [spec], scheduleTick: 300_000)
        #expect(first.map(\.skipped) == [false, false, false])
        #expect(again.map(\.skipped) == [true, true, true])
        #expect(try store.status().runs.count == 3)
    }
}
