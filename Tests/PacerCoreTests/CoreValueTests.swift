import Testing
@testable import PacerCore

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("250ms", Int64(250)), ("1s", 1_000), ("30s", 30_000), ("1m", 60_000), ("5m", 300_000), ("2h", 7_200_000),
        ("1d", 86_400_000), (" 3s ", 3_000), ("366d", 31_622_400_000),
    ])
    func parses(text: String, ms: Int64) {
        #expect(DurationText.milliseconds(text) == ms)
    }

    @Test(arguments: ["", "s", "1", "0s", "-1s", "1.5s", "1 s", "1sec", "10x", "99999999999999999d",
                        "106751991167d", "367d", "9000h"])
    func rejects(text: String) {
        #expect(DurationText.milliseconds(text) == nil)
    }

    @Test func formatsShortestExactUnit() {
        #expect(DurationText.format(milliseconds: 60_000) == "1m")
        #expect(DurationText.format(milliseconds: 30_000) == "30s")
        #expect(DurationText.format(milliseconds: 1_500) == "1500ms")
    }
}

@Suite struct RateLimitTests {
    @Test func parsesCountAndWindow() throws {
        let limit = try #require(RateLimit(parsing: "4000/30s"))
        #expect(limit.count == 4000)
        #expect(limit.windowMilliseconds == 30_000)
        #expect(limit.description == "4000/30s")
        #expect(RateLimit(parsing: "10/1s") == RateLimit(count: 10, windowMilliseconds: 1000))
        #expect(limit.bucketWindowMilliseconds() == 30_100)          // default margin: 0.5%, at most 100 ms
        #expect(limit.bucketWindowMilliseconds(margin: 0) == 30_000)
    }

    @Test(arguments: ["10", "10/", "/1s", "0/1s", "-1/1s", "10/1", "ten/1s", "10/1s/2", "1/40000000000d",
                      "1000000001/1s", "9223372036854775807/1s"])
    func rejects(text: String) {
        #expect(RateLimit(parsing: text) == nil)
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(attempts: 8, minimumBackoffMilliseconds: 1_000, maximumBackoffMilliseconds: 60_000)

    @Test(arguments: [
        // failed attempts, jitter, expected delay: half the step is fixed, half is jitter; clamped to [min, max]
        (1, 0.0, Int64(1_000)), (1, 1.0, 1_000), (2, 0.0, 1_000), (2, 1.0, 2_000), (3, 0.5, 3_000),
        (4, 0.0, 4_000), (4, 1.0, 8_000), (7, 1.0, 60_000), (7, 0.0, 30_000), (60, 0.0, 30_000), (60, 1.0, 60_000),
    ])
    func backoffTable(failed: Int, jitter: Double, expected: Int64) {
        #expect(policy.backoffMilliseconds(afterFailedAttempts: failed, jitter: jitter) == expected)
    }

    @Test func parsesBackoffRange() {
        #expect(RetryPolicy.parseBackoff("1s..5m")! == (1_000, 300_000))
        #expect(RetryPolicy.parseBackoff("5m..1s") == nil)
        #expect(RetryPolicy.parseBackoff("1s") == nil)
        #expect(RetryPolicy.parseBackoff("1s..") == nil)
    }
}

@Suite struct JSONValueTests {
    @Test func keepsMemberOrderAndEscapes() {
        let v = JSONValue.object([
            .init("z", .string("a\"b\\c\n\u{01}é/")), .init("a", .number("0.0001")), .init("m", .bool(true)),
            .init("n", .null), .init("list", .array([.string("1"), .number("2")])),
        ])
        #expect(v.compactText == #"{"z":"a\"b\\c\n\u0001é/","a":0.0001,"m":true,"n":null,"list":["1",2]}"#)
    }

    @Test func plainTextJoinsArrays() {
        #expect(JSONValue.array([.string("1"), .string("2"), .number("3")]).plainText == "1,2,3")
        #expect(JSONValue.bool(false).plainText == "false")
    }
}

@Suite struct CallStateTests {
    @Test func terminalStates() {
        #expect(CallState.allCases.filter(\.isTerminal) == [.succeeded, .failed, .dead, .uncertain, .duplicate, .cancelled])
        #expect(CallState.inFlight.rawValue == "in_flight")
    }
}

@Suite struct JSONParserTests {
    @Test(arguments: [
        #"{"b":1,"a":[true,false,null],"c":{"z":"x","y":-0.5e+3}}"#,
        #"{"orderId":1234567890123456789012,"price":"0.0001"}"#,
        #"[]"#, #"{}"#, #""é\"\\""#, "-0", "12.5E-3",
    ])
    func roundTripsCompactText(text: String) throws {
        #expect(try JSONValue(parsing: text).compactText == text)
    }

    @Test func decodesEscapesAndWhitespace() throws {
        let v = try JSONValue(parsing: " { \"k\" : \"a\\u00e9\\ud83d\\ude00\\/\\n\" , \"n\" : [ 1 , 2 ] } ")
        #expect(v == .object([.init("k", .string("aé😀/\n")), .init("n", .array([.number("1"), .number("2")]))]))
        #expect(v["n"] == .array([.number("1"), .number("2")]))
        #expect(v["missing"] == nil)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\"}", "01", "1.", "tru", "\"\\x\"", "\"a", "{} x", "-", "\"\u{01}\"",
                      "\"\\ud800\"", String(repeating: "[", count: 300) + String(repeating: "]", count: 300)])
    func rejects(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: text) }
    }
}
