import PacerCore
import PacerTestSupport
import Testing
@testable import PacerJobs

@Suite struct CallPlannerTests {
    func calls(_ yaml: String, files: [String: String] = [:]) throws -> [NewCall] {
        let dir = TempDir()
        for (name, text) in files { dir.write(name, text) }
        let spec = try JobFileParser.parse(file: dir.write("job.yaml", yaml))
        var planner = try CallPlanner(spec)
        var out: [NewCall] = []
        while let call = try planner.next() { out.append(call) }
        return out
    }

    @Test func rangeItemsRenderPathAndParamsInOrder() throws {
        let out = try calls("""
            name: r
            account: a
            request:
              method: GET
              path: /stock
              params:
                g: "{{item}}"
                page: "{{index}}"
                z: fixed
            items:
              range: 7..9
            """)
        #expect(out.map(\.path) == ["/stock", "/stock", "/stock"])
        #expect(out.map(\.params) == [#"{"g":"7","page":"0","z":"fixed"}"#, #"{"g":"8","page":"1","z":"fixed"}"#,
                                      #"{"g":"9","page":"2","z":"fixed"}"#])
        #expect(out.map(\.index) == [0, 1, 2])
    }

    @Test func listItemsAreEncodedInsideAPathSegment() throws {
        let out = try calls("""
            name: l
            account: a
            request:
              method: DELETE
              path: /api/v1/orders/{{item}}
            items:
              list: ["abc", "a b/c?d"]
            """)
        #expect(out.map(\.path) == ["/api/v1/orders/abc", "/api/v1/orders/a%20b%2Fc%3Fd"])
        #expect(out.allSatisfy { $0.method == .delete && $0.params == "{}" && $0.body == nil && $0.idempotent })
    }

    @Test func textFileSkipsBlanksAndCommentsAndBatchesWithJoin() throws {
        let out = try calls("""
            name: t
            account: a
            request:
              method: POST
              path: /Trade/cancelAllEntrustSheet
              params:
                ids: "{{batch}}"
            items:
              file: ids.txt
            batch:
              size: 2
              join: ","
            weight: 3
            """, files: ["ids.txt": "# ids\n10\n\n11\r\n  12  \n# end\n13\n14"])
        #expect(out.map(\.params) == [#"{"ids":"10,11"}"#, #"{"ids":"12,13"}"#, #"{"ids":"14"}"#])
        #expect(out.allSatisfy { $0.weight == 3 })
    }

    @Test func batchWithoutJoinBecomesAJSONArray() throws {
        let out = try calls("""
            name: b
            account: a
            request:
              method: POST
              path: /api/v1/futures/trade/cancel_orders
              params:
                symbol: BTCUSDT
                orderIdList: "{{batch}}"
                note: "ids {{batch}}"
            items:
              list: [1, 2, 3]
            batch:
              size: 2
            """)
        #expect(out.map(\.params) == [#"{"symbol":"BTCUSDT","orderIdList":["1","2"],"note":"ids 1,2"}"#,
                                      #"{"symbol":"BTCUSDT","orderIdList":["3"],"note":"ids 3"}"#])
    }

    @Test func csvColumnsAndNestedBody() throws {
        let out = try calls("""
            name: c
            account: a
            request:
              method: POST
              path: /api/v1/orders
              body:
                clientOid: "{{item.oid}}"
                meta:
                  symbol: "{{item.symbol}}"
                  tags: ["{{item}}", 1]
            items:
              file: orders.csv
              column: oid
            """, files: ["orders.csv": "oid,symbol\nx1,BTC-USDT\n\"x,2\",\"ETH \"\"q\"\"\"\n"])
        #expect(out.count == 2)
        #expect(out[0].body == #"{"clientOid":"x1","meta":{"symbol":"BTC-USDT","tags":["x1",1]}}"#)
        #expect(out[1].body == #"{"clientOid":"x,2","meta":{"symbol":"ETH \"q\"","tags":["x,2",1]}}"#)
    }

    /// A job whose items come from `ids.txt`, one call per item.
    static let itemsFileJob = """
        name: u
        account: a
        request:
          method: GET
          path: /p/{{item}}
        items:
          file: ids.txt
        """

    @Test func badItemsLineIsReportedWithItsLine() throws {
        let error = try #require(throws: JobFileError.self) {
            _ = try calls(Self.itemsFileJob, files: [:])
        }
        #expect(error.field == "items.file")
    }

    /// A line longer than any item (a file that lost its newlines) is an error naming its line, read once, not a
    /// hang that keeps the whole line in memory.
    @Test func anOverlongItemsLineIsRefusedWithItsLine() throws {
        let long = String(repeating: "7", count: LineReader.maxLineBytes + 1)
        for ending in ["", "\n"] {
            let error = try #require(throws: JobFileError.self) {
                _ = try calls(Self.itemsFileJob, files: ["ids.txt": "1\n2\n" + long + ending + "3\n"])
            }
            #expect(error.line == 3 && error.field == "items.file", "\(error)")
            #expect(error.message.contains("longer than"), "\(error)")
        }
    }

    /// An item `.` or `..` alone in a path segment would reach another endpoint once the server resolves it
    /// (`/orders/..` is `/`): refused with its line. Dots inside an id are fine.
    @Test func anItemThatIsADotSegmentIsRefused() throws {
        let job = """
            name: u
            account: a
            request:
              method: DELETE
              path: /api/v1/orders/{{item}}
            items:
              file: ids.txt
            """
        for (dot, line) in [(".", 2), ("..", 3)] {
            let text = dot == "." ? "a1\n.\n" : "a1\nb.2\n..\n"
            let error = try #require(throws: JobFileError.self) { _ = try calls(job, files: ["ids.txt": text]) }
            #expect(error.line == line && error.field == "request.path" && error.message.contains("'\(dot)'"), "\(error)")
        }
        #expect(try calls(job, files: ["ids.txt": "x..\n.y\n...\n"]).map(\.path)
                == ["/api/v1/orders/x..", "/api/v1/orders/.y", "/api/v1/orders/..."])
    }

    /// A line of the longest length accepted, ending in CRLF whose `\n` falls in the next chunk, is still read.
    @Test func theLongestLineWithCRLFAcrossChunksIsRead() throws {
        let dir = TempDir()
        let path = dir.write("ids.txt", String(repeating: "9", count: LineReader.maxLineBytes) + "\r\nnext\r\n")
        var reader = try LineReader(path: path, chunkSize: LineReader.maxLineBytes + 1)
        #expect(try reader.next()?.utf8.count == LineReader.maxLineBytes)
        #expect(try reader.next() == "next")
        #expect(try reader.next() == nil)
    }

    /// The longest line accepted is still read whole.
    @Test func aLongButAcceptedItemsLineIsRead() throws {
        let long = String(repeating: "8", count: LineReader.maxLineBytes)
        let out = try calls("""
            name: u
            account: a
            request:
              method: GET
              path: /p
              params:
                id: "{{item}}"
            items:
              file: ids.txt
            """, files: ["ids.txt": "1\n" + long + "\n2"])
        #expect(out.count == 3)
        #expect(out[1].params.count > LineReader.maxLineBytes)
    }
}

/// `{{key}}`: one key per call, made at enqueue, in the request wherever the job puts it.
@Suite struct CallKeyTemplateTests {
    static let order = """
        name: orders
        account: a
        request:
          method: POST
          path: /api/v1/orders
          params:
            clientOid: "{{key}}"
            note: "order {{index}} ({{key}})"
            price: "{{item}}"
        items:
          range: 1..5
        idempotent: false
        """

    @Test func eachCallGetsItsOwnKeyEverywhereItIsUsed() throws {
        let dir = TempDir()
        let spec = try JobFileParser.parse(file: dir.write("job.yaml", Self.order))
        #expect(spec.usesKey && spec.putsKey(inField: "clientOid") && !spec.putsKey(inField: "price"))
        var counter = 0
        var planner = try CallPlanner(spec, makeKey: { counter += 1; return "k\(counter)" })
        var calls: [NewCall] = []
        while let call = try planner.next() { calls.append(call) }
        #expect(calls.map(\.key) == ["k1", "k2", "k3", "k4", "k5"])
        #expect(calls[1].params == #"{"clientOid":"k2","note":"order 1 (k2)","price":"2"}"#)
        // Random keys by default: all different.
        var random = try CallPlanner(spec)
        var keys = Set<String>()
        while let call = try random.next() { keys.insert(try #require(call.key)) }
        #expect(keys.count == 5)
    }

    @Test func aJobWithoutTheKeyPlaceholderHasNoKeys() throws {
        let dir = TempDir()
        let spec = try JobFileParser.parse(file: dir.write("job.yaml", Self.order.replacingOccurrences(of: "{{key}}", with: "x")))
        #expect(!spec.usesKey)
        var planner = try CallPlanner(spec)
        #expect(try planner.next()?.key == nil)
    }

    @Test func aKeyCannotNameAnAccount() throws {
        let dir = TempDir()
        let path = dir.write("job.yaml", """
            name: bad
            account: "{{key}}"
            request:
              method: GET
              path: /stock
            """)
        let error = try #require(throws: JobFileError.self) { try JobFileParser.parse(file: path) }
        #expect(error.field == "account" && error.line == 2 && error.message.contains("to route each item"))
    }
}

@Suite struct KeyFieldTests {
    /// With `body:`, a JSON-body provider sends the body instead of `params`: a key left in `params` is not sent,
    /// so the call must not count as keyed.
    @Test func aKeyCountsOnlyWhereTheRequestCarriesIt() throws {
        let dir = TempDir()
        let spec = try JobFileParser.parse(file: dir.write("job.yaml", """
            name: orders
            account: a
            request:
              method: POST
              path: /api/v1/orders
              params:
                clientOid: "{{key}}"
              body:
                symbol: BTC-USDT
                tag: "{{key}}"
            idempotent: false
            """))
        #expect(!spec.putsKey(inField: "clientOid"))
        #expect(spec.putsKey(inField: "tag"))
    }
}
