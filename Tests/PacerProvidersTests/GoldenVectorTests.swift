import Foundation
import PacerCore
import Testing
@testable import PacerProviders

/// Every verified vector of the providers' specifications, plus Bit-Z vectors computed outside Swift (see `BitZVectors`).
@Suite struct GoldenVectorTests {
    @Test func kookeeySignsHexThenBase64() {
        #expect(Kookeey.signature("g=433&ts=1609430400", token: "1234567ABCDEFG")
                == "ZDQyNmExY2FiOWZhNDdiMjAzNTYyYmFhZDZmMWIyNzM4N2FjM2JmMA==")
        #expect(Kookeey.signature("g=1&ts=1609430400", token: "1234567ABCDEFG")
                == "YzVkMjQxYjVmNjA2MWExMjAwYWYxMzUxM2I1YTY4YWYyOWIxMzA5NA==")
    }

    @Test func kookeeyURLKeepsParamOrderAndEncodesThePlus() {
        let signed = Kookeey().sign(APIRequest(method: .get, path: "/stock", params: [.init("g", .string("433"))]),
                                    baseURL: "https://kookeey.com", credentials: Credentials(key: "1", secret: "1234567ABCDEFG"),
                                    inputs: SigningInputs(nowMilliseconds: 1_609_430_400_000, nonce: ""))
        #expect(signed.url == "https://kookeey.com/stock?accessid=1&g=433&ts=1609430400"
                + "&signature=ZDQyNmExY2FiOWZhNDdiMjAzNTYyYmFhZDZmMWIyNzM4N2FjM2JmMA%3D%3D")
        #expect(signed.method == .get && signed.body == nil)
    }

    /// base64 of hex text never holds '+' or '/' (hex digits only reach 6-bit values up to 61), but always ends
    /// in '==' padding, and param values may hold '+': all must reach the server as sent, never as spaces.
    @Test func plusAndPaddingSurviveTheURL() throws {
        let request = APIRequest(method: .get, path: "/order", params: [.init("note", .string("a+b c/d=e"))])
        let signed = Kookeey().sign(request, baseURL: "https://kookeey.com",
                                    credentials: Credentials(key: "1", secret: "1234567ABCDEFG"),
                                    inputs: SigningInputs(nowMilliseconds: 1_609_430_400_000, nonce: ""))
        let expected = Kookeey.signature("note=a+b c/d=e&ts=1609430400", token: "1234567ABCDEFG")
        #expect(expected.hasSuffix("=="))
        let query = try #require(signed.url.split(separator: "?").last)
        var decoded: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            #expect(!kv[1].contains("+") && !kv[1].contains(" ") && !kv[1].contains("="), "raw '\(kv[1])'")
            decoded[kv[0]] = kv[1].removingPercentEncoding
        }
        #expect(decoded["note"] == "a+b c/d=e")
        #expect(decoded["signature"] == expected)
    }

    @Test func kucoinSeedVectors() {
        let body = #"{"symbol":"BTC-USDT","side":"buy","size":"0.0001","price":"30000","type":"limit","clientOid":"2b802154-8d31-42e6-88ea-c8c18d3e4822","tradeType":"TRADE"}"#
        #expect(KuCoin.sign("1680885532722POST/api/v1/orders" + body, secret: "cde06451-dbed")
                == "ncPuAcZW8WYUZyvblRVVgMfYoVH+FlCTO6K45/FMLFQ=")
        #expect(KuCoin.sign("1111111", secret: "cde06451-dbed") == "rl1Ki0WuwidRT48JnoGQo+AJ4UtZ6mQEKt6F5XYVnT4=")
        #expect(KuCoin.sign("1680885532722goodbroker6422da9c97b45100018c6e62", secret: "e8512b82-a4aa")
                == "CN1imIGUz/USkPuhOtGWi5DlZ08VeuVfknJNOPqUEac=")
        #expect(KuCoin.sign(#"1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}"#,
                            secret: "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3")
                == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4=")
    }

    @Test func kucoinRequestCarriesEveryHeader() {
        let request = APIRequest(method: .post, path: "/api/v1/orders", params: [
            .init("symbol", .string("BTC-USDT")), .init("side", .string("buy")), .init("size", .string("0.0001")),
            .init("price", .string("30000")), .init("type", .string("limit")),
            .init("clientOid", .string("2b802154-8d31-42e6-88ea-c8c18d3e4822")), .init("tradeType", .string("TRADE")),
        ])
        let signed = KuCoin().sign(request, baseURL: "https://api.kucoin.com",
                                   credentials: Credentials(key: "6422da9c97b45100018c6e62", secret: "cde06451-dbed",
                                                            passphrase: "1111111", partner: "goodbroker",
                                                            brokerName: "Good Broker", brokerKey: "e8512b82-a4aa"),
                                   inputs: SigningInputs(nowMilliseconds: 1_680_885_532_722, nonce: ""))
        #expect(signed.url == "https://api.kucoin.com/api/v1/orders")
        #expect(signed.header("KC-API-SIGN") == "ncPuAcZW8WYUZyvblRVVgMfYoVH+FlCTO6K45/FMLFQ=")
        #expect(signed.header("KC-API-PASSPHRASE") == "rl1Ki0WuwidRT48JnoGQo+AJ4UtZ6mQEKt6F5XYVnT4=")
        #expect(signed.header("KC-API-PARTNER-SIGN") == "CN1imIGUz/USkPuhOtGWi5DlZ08VeuVfknJNOPqUEac=")
        #expect(signed.header("KC-API-TIMESTAMP") == "1680885532722")
        #expect(signed.header("KC-API-KEY-VERSION") == "2")
        #expect(signed.header("KC-API-PARTNER-VERIFY") == "true")
        #expect(signed.header("KC-BROKER-NAME") == "Good Broker")
    }

    @Test func kucoinSignsTheUnencodedQueryInSentOrder() {
        let request = APIRequest(method: .get, path: "/api/v1/orders", params: [
            .init("status", .string("active")), .init("symbol", .string("BTC USDT")), .init("a", .string("x/y")),
        ])
        let signed = KuCoin().sign(request, baseURL: "http://127.0.0.1:8088/kucoin",
                                   credentials: Credentials(key: "k", secret: "s", passphrase: "p"),
                                   inputs: SigningInputs(nowMilliseconds: 1_000, nonce: ""))
        #expect(signed.url == "http://127.0.0.1:8088/kucoin/api/v1/orders?status=active&symbol=BTC%20USDT&a=x%2Fy")
        #expect(signed.header("KC-API-SIGN")
                == KuCoin.sign("1000GET/api/v1/orders?status=active&symbol=BTC USDT&a=x/y", secret: "s"))
        #expect(signed.body == nil)
    }

    @Test func bitunixOfficialVector() {
        #expect(Bitunix.sign(nonce: "33333333333333333", timestamp: "1747104711262", apiKey: "11111111111111111",
                             queryParams: Bitunix.queryParams([("marginCoin", "USDT")]), body: "",
                             secret: "22222222222222222")
                == "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922")
        #expect(Bitunix.queryParams([("symbol", "BTCUSDT"), ("marginCoin", "USDT"), ("Z", "1")])
                == "Z1marginCoinUSDTsymbolBTCUSDT")
    }

    @Test func bitunixSignsExactlyTheBodyItSends() {
        let request = APIRequest(method: .post, path: "/api/v1/futures/trade/cancel_orders", params: [
            .init("symbol", .string("BTCUSDT")), .init("orderIdList", .array([.string("1"), .string("2")])),
        ])
        let signed = Bitunix().sign(request, baseURL: "https://openapi.bitunix.com",
                                    credentials: Credentials(key: "11111111111111111", secret: "22222222222222222"),
                                    inputs: SigningInputs(nowMilliseconds: 1_747_104_711_262, nonce: "33333333333333333"))
        let body = #"{"symbol":"BTCUSDT","orderIdList":["1","2"]}"#
        #expect(signed.body == body)
        #expect(signed.header("sign") == Bitunix.sign(nonce: "33333333333333333", timestamp: "1747104711262",
                                                      apiKey: "11111111111111111", queryParams: "", body: body,
                                                      secret: "22222222222222222"))
        #expect(signed.header("nonce") == "33333333333333333")
        #expect(signed.url == "https://openapi.bitunix.com/api/v1/futures/trade/cancel_orders")
    }

    /// Bit-Z vectors computed independently in Python 3 (hashlib), not by this Swift code:
    ///   s = '&'.join(f'{k}={v}' for k, v in sorted(params.items(), key=lambda kv: kv[0].encode()))
    ///   hashlib.md5((s + secret).encode()).hexdigest()
    @Test func bitzVectors() {
        let own: [(String, String)] = [("ids", "1,2,3"), ("apiKey", "demo-bitz-key"), ("timeStamp", "1700000000"),
                                       ("nonce", "ab12cd")]
        #expect(BitZ.signingString(own) == "apiKey=demo-bitz-key&ids=1,2,3&nonce=ab12cd&timeStamp=1700000000")
        #expect(BitZ.sign(own, secret: "s3cret") == "531f3e5249833e98b7ff3128ad41e128")
        let docs: [(String, String)] = [
            ("timeStamp", "1552641715"), ("nonce", "ue8jAx"), ("apiKey", "17919e05dc57d5d44dccdda03bdd6e2e"),
            ("coin", "usdt"), ("address", "1AG1gZvQAYu3WBvgg7p4BvvfNQD2gE693k"), ("number", "1000"),
        ]
        #expect(BitZ.sign(docs, secret: "aQmE8U7bxj16KdJcSd3yX8F8Sakd8aO6LopnHXh27d4kWyb28PxcaTvGrajLDvAw")
                == "6e9bd96a61743b356e2be4ce3c81f394")
    }

    @Test func bitzFormBodyIsSignedUnencodedAndSentEncoded() {
        let signed = BitZ().sign(APIRequest(method: .post, path: "/Trade/cancelAllEntrustSheet",
                                            params: [.init("ids", .string("1,2,3"))]),
                                 baseURL: "https://apiv2.bitz.com", credentials: Credentials(key: "demo-bitz-key", secret: "s3cret"),
                                 inputs: SigningInputs(nowMilliseconds: 1_700_000_000_999, nonce: "ab12cd"))
        #expect(signed.body == "ids=1%2C2%2C3&apiKey=demo-bitz-key&timeStamp=1700000000&nonce=ab12cd"
                + "&sign=531f3e5249833e98b7ff3128ad41e128")
        #expect(signed.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(signed.url == "https://apiv2.bitz.com/Trade/cancelAllEntrustSheet")
    }

    @Test func credentialsNeverPrintTheirSecrets() {
        let c = Credentials(key: "KEY", secret: "SECRET-VALUE", passphrase: "PASS-VALUE", brokerKey: "BROKER-VALUE")
        let text = "\(c) \(String(describing: c)) \(String(reflecting: c))"
        #expect(text.contains("KEY"))
        #expect(!text.contains("SECRET-VALUE") && !text.contains("PASS-VALUE") && !text.contains("BROKER-VALUE"))
    }
}
