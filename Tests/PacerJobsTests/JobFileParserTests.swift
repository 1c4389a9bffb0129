import Foundation
import PacerCore
import PacerTestSupport
import Testing
@testable import PacerJobs

@Suite struct ExampleJobsTests {
    @Test func everyShippedExampleParses() throws {
        let dir = repositoryRoot.appendingPathComponent("jobs")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5)
        var accounts = Set<String>()
        var targets: [AccountTarget] = []
        for file in files {
            let spec = try JobFileParser.parse(file: dir.appendingPathComponent(file).path)
            if case .one(let name) = spec.target { accounts.insert(name) } else { targets.append(spec.target) }
            // Each example expands to at least one call without an error.
            var planner = try CallPlanner(spec)
            #expect(try planner.next() != nil, "\(file) produced no call")
        }
        #expect(accounts == ["kookeey-main", "kucoin-main", "bitunix-main", "bitz-main"])
        // And one example of each form over many accounts.
        #expect(targets.contains(.matching(["kucoin-*"])))
        #expect(targets.contains { if case .perItem = $0 { true } else { false } })
    }
}

@Suite struct JobFileErrorTests {
    static let valid = """
        name: demo
        account: acct
        request:
          method: GET
          path: /stock
          params:
            g: "{{item}}"
        items:
          list: [1, 2]
        """

    /// Each malformed file, the position and field the error must name, and a word of what was expected.
    static let cases: [(String, String, String)] = [
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nbogus: 1\n", "6:1: bogus", "unknown key"),
        ("name: x\nrequest:\n  method: GET\n  path: /p\n", "1:1: account", "missing"),
        ("name: x\naccount: a\nrequest:\n  method: FETCH\n  path: /p\n", "4:11: request.method", "expected GET"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: p\n", "5:9: request.path", "starting with '/'"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{itme}}\n", "5:9: request.path",
         "unknown placeholder '{{itme}}'"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\n  params:\n    a: \"{{item\"\n",
         "7:8: request.params.a", "not closed"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nweight: two\n", "6:9: weight",
         "whole number"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{item}}\nitems:\n  range: 5..1\n",
         "7:10: items.range", "FIRST <= LAST"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{item}}\nitems:\n  file: missing.txt\n",
         "7:9: items.file", "cannot read items file"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{item}}\n", "5:9: request.path", "no 'items'"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{batch}}\nitems:\n  list: [1]\n",
         "5:9: request.path", "no 'batch'"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nretry:\n  backoff: 5m..1s\n",
         "7:12: retry.backoff", "MIN <= MAX"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nretry:\n  backoff: 106751991167d..106751991167d\n",
         "7:12: retry.backoff", "at most 366d"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nschedule: \"*/5 * * *\"\n", "6:11: schedule",
         "five fields"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\nidempotent: maybe\n", "6:13: idempotent",
         "true or false"),
        ("name: x\naccount: a\naccount: b\nrequest:\n  method: GET\n  path: /p\n", "2:1: account", "twice"),
        ("name: x\naccount: [a\n", "3:1: (yaml)", "not valid YAML"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p/{{item.id}}\nitems:\n  list: [1]\n",
         "5:9: request.path", "needs a CSV items file"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\non:\n  80003: retry\n", "7:10: on.80003",
         "expected one of ok, rate-limited"),
        ("name: x\naccount: a\nrequest:\n  method: GET\n  path: /p\non:\n  abc: transient\n", "7:3: on.abc",
         "provider code"),
    ]

    @Test func validFileParses() throws {
        let spec = try JobFileParser.parse(yaml: Self.valid, file: "valid.yaml")
        #expect(spec.name == "demo")
        #expect(spec.idempotent) // GET defaults to idempotent
        #expect(spec.retry == .default)
    }

    @Test(arguments: 0..<cases.count)
    func malformedFileNamesPlaceAndField(index: Int) throws {
        let (yaml, position, expected) = Self.cases[index]
        let dir = TempDir()
        let path = dir.write("job.yaml", yaml)
        let error = try #require(throws: JobFileError.self) { try JobFileParser.parse(file: path) }
        #expect(error.description.hasPrefix("\(path):\(position): "), "got: \(error)")
        #expect(error.message.contains(expected), "got: \(error)")
    }

    @Test func onMapReclassifiesCodes() throws {
        let spec = try JobFileParser.parse(yaml: """
            name: x
            account: a
            request:
              method: GET
              path: /stock
            on:
              80003: transient
              "-110": permanent
            """, file: "x.yaml")
        #expect(spec.overrides == ["80003": "transient", "-110": "permanent"])
    }

    @Test func unknownCSVColumnIsReportedBeforeQueuing() throws {
        let dir = TempDir()
        dir.write("orders.csv", "orderId,symbol\n1,BTC\n")
        let path = dir.write("job.yaml", """
            name: x
            account: a
            request:
              method: DELETE
              path: /o/{{item.orderID}}
            items:
              file: orders.csv
            """)
        let error = try #require(throws: JobFileError.self) { try JobFileParser.parse(file: path) }
        #expect(error.field == "items.column")
        #expect(error.message.contains("no column 'orderID'"))
        #expect(error.line == 7)
    }

    @Test func yaml11BooleansAndHexStayStrings() throws {
        let spec = try JobFileParser.parse(yaml: """
            name: x
            account: a
            request:
              method: POST
              path: /p
              params:
                side: no
                id: 0x1F
                size: 0.0001
                quoted: "12"
                flag: true
                none: null
            """, file: "x.yaml")
        var planner = try CallPlanner(spec)
        let call = try #require(try planner.next())
        #expect(call.params == #"{"side":"no","id":"0x1F","size":0.0001,"quoted":"12","flag":true,"none":null}"#)
        #expect(!call.idempotent) // POST defaults to not idempotent
    }
}
