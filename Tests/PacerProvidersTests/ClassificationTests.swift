import PacerCore
import Testing
@testable import PacerProviders

/// Each provider's code table, code by code, against the providers' published tables.
@Suite struct ClassificationTests {
    static func kookeey(_ code: Int) -> HTTPReply {
        HTTPReply(status: 200, body: #"{"success":\#(code == 0),"data":{"n":1},"msg":"m","code":\#(code)}"#)
    }

    @Test(arguments: [
        (0, Classification.ok), (60001, .rateLimited), (10015, .clock(escalatesToAuth: false)),
        (10059, .clock(escalatesToAuth: true)), (10003, .transient), (10005, .transient), (10006, .permanent),
        (10045, .permanent), (10061, .permanent), (40017, .permanent), (20001, .permanent), (20004, .permanent),
        (40001, .auth), (40009, .auth), (40010, .auth), (40015, .auth), (40005, .permanent), (40012, .permanent),
        (80003, .transient), (80007, .duplicate), (80004, .permanent), (80005, .permanent), (80008, .permanent),
        (12345, .permanent),
    ])
    func kookeeyCodes(code: Int, expected: Classification) {
        let outcome = Kookeey().interpret(Self.kookeey(code), overrides: [:])
        #expect(outcome.classification == expected)
        #expect(outcome.code == String(code))
    }

    @Test func kookeeyPayloadAndLongBackoff() {
        let ok = Kookeey().interpret(Self.kookeey(0), overrides: [:])
        #expect(ok.data == #"{"n":1}"#)
        #expect(Kookeey().interpret(Self.kookeey(80003), overrides: [:]).retryAfterMilliseconds == 60_000)
    }

    static func kucoin(_ code: String, status: Int = 200, headers: [(name: String, value: String)] = []) -> HTTPReply {
        HTTPReply(status: status, headers: headers, body: #"{"code":"\#(code)","msg":"m","data":{"orderId":"x"}}"#)
    }

    @Test(arguments: [
        ("200000", Classification.ok), ("429000", .rateLimited), ("400002", .clock(escalatesToAuth: false)),
        ("400001", .auth), ("400003", .auth), ("400004", .auth), ("400005", .auth), ("400006", .auth),
        ("400007", .auth), ("400200", .auth), ("400201", .auth), ("400202", .auth), ("411100", .auth),
        ("400100", .permanent), ("415000", .permanent), ("900001", .permanent), ("200004", .permanent),
        ("500000", .transient), ("777777", .permanent),
    ])
    func kucoinCodes(code: String, expected: Classification) {
        #expect(KuCoin().interpret(Self.kucoin(code), overrides: [:]).classification == expected)
    }

    @Test func kucoinHTTPStatusesAndResetHeader() {
        let limited = KuCoin().interpret(Self.kucoin("429000", status: 429, headers: [("gw-ratelimit-reset", "1234")]),
                                         overrides: [:])
        #expect(limited.classification == .rateLimited)
        #expect(limited.retryAfterMilliseconds == 1234)
        let bare429 = KuCoin().interpret(HTTPReply(status: 429, body: ""), overrides: [:])
        #expect(bare429.classification == .rateLimited)
        #expect(KuCoin().interpret(HTTPReply(status: 503, body: "<html>"), overrides: [:]).classification == .transient)
        #expect(KuCoin().interpret(HTTPReply(status: 502, body: ""), overrides: [:]).classification == .transient)
        #expect(KuCoin().interpret(Self.kucoin("200000"), overrides: [:]).data == #"{"orderId":"x"}"#)
        #expect(KuCoin.serverTime(from: HTTPReply(status: 200, body: #"{"code":"200000","data":1680885532722}"#))
                == 1_680_885_532_722)
    }

    @Test(arguments: [
        (0, Classification.ok), (10005, .rateLimited), (10006, .rateLimited), (10007, .clock(escalatesToAuth: true)),
        (10009, .clock(escalatesToAuth: false)), (10003, .auth), (10004, .auth), (10002, .permanent),
        (10008, .permanent), (10001, .transient), (99999, .permanent),
    ])
    func bitunixCodes(code: Int, expected: Classification) {
        let reply = HTTPReply(status: 200, body: #"{"code":\#(code),"msg":"m","data":null}"#)
        #expect(Bitunix().interpret(reply, overrides: [:]).classification == expected)
    }

    @Test(arguments: [(403, Classification.auth), (404, .permanent), (500, .transient), (502, .transient),
                      (503, .transient)])
    func bitunixHTTPStatuses(status: Int, expected: Classification) {
        #expect(Bitunix().interpret(HTTPReply(status: status, body: "x"), overrides: [:]).classification == expected)
    }

    @Test(arguments: [
        (200, Classification.ok), (-110, .rateLimited), (-114, .rateLimited), (-105, .auth), (-109, .auth),
        (-117, .auth), (-111, .auth), (-102, .permanent), (-104, .transient), (-106, .transient), (-112, .transient),
        (-103, .clock(escalatesToAuth: true)), (-999, .permanent),
    ])
    func bitzCodes(status: Int, expected: Classification) {
        let reply = HTTPReply(status: 200, body: #"{"status":\#(status),"msg":"","data":null,"time":1700000000,"microtime":"0.1 1700000000","source":"api"}"#)
        let outcome = BitZ().interpret(reply, overrides: [:])
        #expect(outcome.classification == expected)
        #expect(outcome.serverTimeMilliseconds == 1_700_000_000_000)
    }

    @Test func bitzNegativeCodeInsideDataAndDailyLimit() {
        let inside = HTTPReply(status: 200, body: #"{"status":200,"msg":"","data":-110,"time":1700000000}"#)
        #expect(BitZ().interpret(inside, overrides: [:]).classification == .rateLimited)
        #expect(BitZ().interpret(inside, overrides: [:]).code == "-110")
        // -114 at 1700000000 s (2023-11-14T22:13:20Z): held until the next UTC midnight, 6400 s later.
        let daily = HTTPReply(status: 200, body: #"{"status":-114,"msg":"","data":null,"time":1700000000}"#)
        #expect(BitZ().interpret(daily, overrides: [:]).retryAfterMilliseconds == 6_400_000)
        #expect(BitZ().interpret(HTTPReply(status: 200, body: #"{"status":-112,"data":null}"#), overrides: [:])
            .retryAfterMilliseconds == 300_000)
    }

    @Test func jobOverridesReclassifyACode() {
        let overrides = ["80003": Classification.permanent]
        #expect(Kookeey().interpret(Self.kookeey(80003), overrides: overrides).classification == .permanent)
        #expect(Kookeey().interpret(Self.kookeey(60001), overrides: overrides).classification == .rateLimited)
        #expect(Classification(name: "transient") == .transient)
        #expect(Classification(name: "bogus") == nil)
    }

    @Test func dateHeaderGivesServerTime() {
        let reply = HTTPReply(status: 200, headers: [("Date", "Tue, 14 Nov 2023 22:13:20 GMT")], body: #"{"code":0}"#)
        #expect(Bitunix().interpret(reply, overrides: [:]).serverTimeMilliseconds == 1_700_000_000_000)
        #expect(HTTPDate.format(milliseconds: 1_700_000_000_000) == "Tue, 14 Nov 2023 22:13:20 GMT")
        #expect(HTTPDate.milliseconds("not a date") == nil)
    }

    /// Which failures may have come after the provider acted (and so must not re-send an order): gateway and
    /// server errors without an envelope, timeouts, and each provider's internal-error codes; refusals before
    /// acting (rate limits, busy, insufficient inventory, maintenance, signature and auth errors) are not.
    @Test func answersThatMayComeAfterTheProviderActed() {
        for status in [408, 500, 502, 503, 504] {
            let reply = HTTPReply(status: status, body: "<html>gateway</html>")
            #expect(Kookeey().interpret(reply, overrides: [:]).mayHaveExecuted, "kookeey \(status)")
            #expect(KuCoin().interpret(reply, overrides: [:]).mayHaveExecuted, "kucoin \(status)")
            #expect(Bitunix().interpret(reply, overrides: [:]).mayHaveExecuted, "bitunix \(status)")
            #expect(BitZ().interpret(reply, overrides: [:]).mayHaveExecuted, "bitz \(status)")
        }
        #expect(!KuCoin().interpret(HTTPReply(status: 429, body: ""), overrides: [:]).mayHaveExecuted)
        #expect(Kookeey().interpret(Self.kookeey(10003), overrides: [:]).mayHaveExecuted)   // system error
        #expect(!Kookeey().interpret(Self.kookeey(10005), overrides: [:]).mayHaveExecuted)  // busy: refused
        #expect(!Kookeey().interpret(Self.kookeey(80003), overrides: [:]).mayHaveExecuted)  // no inventory
        #expect(!Kookeey().interpret(Self.kookeey(60001), overrides: [:]).mayHaveExecuted)
        #expect(KuCoin().interpret(Self.kucoin("500000"), overrides: [:]).mayHaveExecuted)
        #expect(!KuCoin().interpret(Self.kucoin("400002"), overrides: [:]).mayHaveExecuted)
        let bitunix = { (code: Int) in HTTPReply(status: 200, body: #"{"code":\#(code),"msg":"m","data":null}"#) }
        #expect(Bitunix().interpret(bitunix(10001), overrides: [:]).mayHaveExecuted)
        #expect(!Bitunix().interpret(bitunix(10006), overrides: [:]).mayHaveExecuted)
        let bitz = { (code: Int) in HTTPReply(status: 200, body: #"{"status":\#(code),"msg":"","data":null,"time":1}"#) }
        #expect(BitZ().interpret(bitz(-104), overrides: [:]).mayHaveExecuted)
        #expect(!BitZ().interpret(bitz(-112), overrides: [:]).mayHaveExecuted)
        #expect(!BitZ().interpret(bitz(-110), overrides: [:]).mayHaveExecuted)
    }
}

/// Each provider's dedupe rules: which field of which endpoint is deduplicated, which answer means "key already
/// used", and how an order is looked up by its key.
@Suite struct DedupeRuleTests {
    @Test func fieldsPerEndpoint() {
        #expect(KuCoin().dedupeField(method: .post, path: "/api/v1/orders") == "clientOid")
        #expect(KuCoin().dedupeField(method: .post, path: "/api/v1/hf/orders") == "clientOid")
        #expect(KuCoin().dedupeField(method: .delete, path: "/api/v1/orders") == nil)
        #expect(KuCoin().dedupeField(method: .post, path: "/api/v1/deposit-addresses") == nil)
        #expect(Bitunix().dedupeField(method: .post, path: "/api/v1/futures/trade/place_order") == "clientId")
        #expect(Bitunix().dedupeField(method: .post, path: "/api/v1/futures/trade/cancel_orders") == nil)
        #expect(Kookeey().dedupeField(method: .get, path: "/order") == "orderno")
        #expect(Kookeey().dedupeField(method: .get, path: "/createOrder") == "orderno")
        #expect(Kookeey().dedupeField(method: .get, path: "/renew") == nil)
        #expect(BitZ().dedupeField(method: .post, path: "/Trade/addEntrustSheet") == nil)
    }

    @Test func duplicateKeyAnswers() {
        let kucoin = KuCoin()
        let duplicated = kucoin.interpret(HTTPReply(status: 400, body: #"{"code":"400100","msg":"clientOid duplicated"}"#),
                                          overrides: [:])
        #expect(kucoin.isDuplicateKey(duplicated))
        // The same code on a cancel of an order that is gone is not about keys.
        let gone = kucoin.interpret(HTTPReply(status: 400, body: #"{"code":"400100","msg":"order_not_exist_or_not_allow_to_cancel"}"#),
                                    overrides: [:])
        #expect(!kucoin.isDuplicateKey(gone) && gone.classification == .permanent)
        #expect(Bitunix().isDuplicateKey(Bitunix().interpret(HTTPReply(status: 200, body: #"{"code":10008,"msg":"x","data":null}"#), overrides: [:])))
        #expect(!Bitunix().isDuplicateKey(Bitunix().interpret(HTTPReply(status: 200, body: #"{"code":10002,"msg":"x","data":null}"#), overrides: [:])))
        #expect(Kookeey().isDuplicateKey(Kookeey().interpret(ClassificationTests.kookeey(80007), overrides: [:])))
    }

    @Test func lookupsByKey() throws {
        let classic = APIRequest(method: .post, path: "/api/v1/orders", params: [.init("clientOid", .string("k1"))])
        #expect(KuCoin().lookup(classic, key: "k1") == APIRequest(method: .get, path: "/api/v1/order/client-order/k1"))
        let hf = APIRequest(method: .post, path: "/api/v1/hf/orders",
                            params: [.init("clientOid", .string("k2")), .init("symbol", .string("BTC-USDT"))])
        #expect(KuCoin().lookup(hf, key: "k2") == APIRequest(method: .get, path: "/api/v1/hf/orders/client-order/k2",
                                                             params: [.init("symbol", .string("BTC-USDT"))]))
        let place = APIRequest(method: .post, path: "/api/v1/futures/trade/place_order")
        #expect(Bitunix().lookup(place, key: "k3") == APIRequest(method: .get, path: "/api/v1/futures/trade/get_order_detail",
                                                                 params: [.init("clientId", .string("k3"))]))
        #expect(Kookeey().lookup(APIRequest(method: .get, path: "/order"), key: "k4") == nil)
        #expect(KuCoin().lookup(APIRequest(method: .delete, path: "/api/v1/orders/1"), key: "k5") == nil)
    }
}

@Suite struct LookupResultTests {
    /// Found only with the key in the answer; not found only when the provider says so; anything else unclear.
    @Test func lookupAnswers() {
        let kucoin = KuCoin()
        func read(_ status: Int, _ body: String) -> LookupResult {
            kucoin.lookupResult(kucoin.interpret(HTTPReply(status: status, body: body), overrides: [:]), key: "k1")
        }
        #expect(read(200, #"{"code":"200000","data":{"id":"o1","clientOid":"k1"}}"#) == .found)
        #expect(read(200, #"{"code":"200000","data":{"id":"o1","clientOid":"k2"}}"#) == .unclear)
        #expect(read(200, #"{"code":"200000","data":null}"#) == .notFound)
        #expect(read(404, #"{"code":"400100","msg":"order not exist."}"#) == .notFound)
        #expect(read(400, #"{"code":"400100","msg":"Parameter error"}"#) == .unclear)
        #expect(read(404, "<html>Not Found</html>") == .unclear)
        #expect(read(503, "") == .unclear)
    }

    /// A success without the provider's envelope (a proxy's page, a body cut short) may come after the work was
    /// done, and proves nothing either way: on every provider it is a transient answer that may have executed,
    /// so an order is looked up by its key or left `uncertain`, never sent again blindly nor failed outright.
    @Test(arguments: Provider.allCases)
    func aSuccessWithoutAnEnvelopeIsAmbiguous(_ provider: Provider) {
        for body in ["<html>ok</html>", "", #"{"cut":"#, "[]"] {
            let outcome = provider.api.interpret(HTTPReply(status: 200, body: body), overrides: [:])
            #expect(outcome.classification == .transient && outcome.mayHaveExecuted, "\(provider) \(body): \(outcome)")
        }
    }
}

/// What providers say about their limits: KuCoin's quota headers, the standard Retry-After, and "already done".
@Suite struct ProviderHintTests {
    @Test func kucoinStatesItsQuotaOnEveryAnswer() {
        let reply = HTTPReply(status: 200, headers: [("gw-ratelimit-limit", "20"), ("gw-ratelimit-remaining", "7"),
                                                     ("gw-ratelimit-reset", "830")],
                              body: #"{"code":"200000","data":{}}"#)
        #expect(KuCoin().interpret(reply, overrides: [:]).quota == ProviderQuota(limit: 20, remaining: 7, resetMilliseconds: 830))
        #expect(KuCoin().interpret(HTTPReply(status: 200, body: #"{"code":"200000"}"#), overrides: [:]).quota == nil)
    }

    @Test func retryAfterInSecondsOrAsADate() {
        let seconds = HTTPReply(status: 429, headers: [("Retry-After", "3")], body: "")
        #expect(Kookeey().interpret(seconds, overrides: [:]).retryAfterMilliseconds == 3_000)
        let date = HTTPReply(status: 503, headers: [("Date", "Sun, 29 Nov 2026 16:00:00 GMT"),
                                                    ("Retry-After", "Sun, 29 Nov 2026 16:00:05 GMT")], body: "")
        #expect(Bitunix().interpret(date, overrides: [:]).retryAfterMilliseconds == 5_000)
        // The provider's own hint wins (KuCoin's reset).
        let both = HTTPReply(status: 429, headers: [("Retry-After", "9"), ("gw-ratelimit-reset", "250")],
                             body: #"{"code":"429000","msg":"Too Many Requests"}"#)
        #expect(KuCoin().interpret(both, overrides: [:]).retryAfterMilliseconds == 250)
    }

    @Test func alreadyDoneAnswers() {
        let kucoin = KuCoin()
        let gone = kucoin.interpret(HTTPReply(status: 400, body: #"{"code":"400100","msg":"order_not_exist_or_not_allow_to_cancel"}"#),
                                    overrides: [:])
        #expect(kucoin.isAlreadyDone(gone, request: APIRequest(method: .delete, path: "/api/v1/orders/1")))
        #expect(!kucoin.isAlreadyDone(gone, request: APIRequest(method: .post, path: "/api/v1/orders")))
        #expect(Kookeey().isAlreadyDone(Kookeey().interpret(ClassificationTests.kookeey(20003), overrides: [:]),
                                        request: APIRequest(method: .get, path: "/whitelist")))
        #expect(!Bitunix().isAlreadyDone(Bitunix().interpret(HTTPReply(status: 200, body: #"{"code":10002,"msg":"x"}"#), overrides: [:]),
                                         request: APIRequest(method: .post, path: "/x")))
    }
}
