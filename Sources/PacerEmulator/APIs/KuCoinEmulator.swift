import PacerCore
import PacerProviders

/// KuCoin: header-signed requests, `{"code":"200000","data":...}`, HTTP 429 + 429000 when over the limit, and
/// `gw-ratelimit-*` headers on every answer.
struct KuCoinEmulator: EmulatedAPI {
    var provider: Provider { .kucoin }
    static let timestampWindowMilliseconds: Int64 = 5_000

    func error(_ status: Int, _ code: String, _ msg: String) -> EmulatorResponse {
        EmulatorResponse(status: status, body: #"{"code":"\#(code)","msg":\#(Answer.string(msg))}"#)
    }

    func ok(_ data: String) -> EmulatorResponse { EmulatorResponse(body: #"{"code":"200000","data":\#(data)}"#) }

    func logicalCall(_ request: EmulatorRequest) -> String {
        "\(request.method) \(request.path)?\(request.rawQuery) \(request.bodyText)"
    }

    func publicAnswer(_ request: EmulatorRequest, now: Int64) -> EmulatorResponse? {
        request.method == "GET" && request.path == KuCoin.serverTimePath ? ok(String(now)) : nil
    }

    func authenticate(_ request: EmulatorRequest, state: EmulatorState, now: Int64) -> Authentication {
        let h = request.headers
        guard let key = h["kc-api-key"], let account = state.account(.kucoin, key: key) else {
            return .refused(key: nil, reason: .unknownKey, response: error(401, "400003", "KC-API-KEY not exists"))
        }
        guard let tsText = h["kc-api-timestamp"], let ts = Int64(tsText), let sign = h["kc-api-sign"] else {
            return .refused(key: key, reason: .badRequest, response: error(401, "400001", "Any of KC-API-* headers is missing"))
        }
        guard abs(now - ts) <= Self.timestampWindowMilliseconds else {
            return .refused(key: key, reason: .expired,
                            response: error(401, "400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 s"))
        }
        guard h["kc-api-passphrase"] == KuCoin.sign(account.passphrase ?? "", secret: account.secret) else {
            return .refused(key: key, reason: .badPassphrase, response: error(401, "400004", "Invalid KC-API-PASSPHRASE"))
        }
        // The server checks the decoded query, in the order it arrived.
        let query = request.queryPairs.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let signed = tsText + request.method + request.path + (query.isEmpty ? "" : "?" + query) + request.bodyText
        guard KuCoin.sign(signed, secret: account.secret) == sign else {
            return .refused(key: key, reason: .badSignature, response: error(401, "400005", "Invalid KC-API-SIGN"))
        }
        if let partner = h["kc-api-partner"] {
            let expected = account.brokerKey.map { KuCoin.sign(tsText + partner + key, secret: $0) }
            guard partner == account.partner, h["kc-api-partner-sign"] == expected else {
                return .refused(key: key, reason: .badPartner, response: error(401, "400201", "Invalid KC-API-PARTNER-SIGN"))
            }
        }
        return .accepted(key: key)
    }

    func rateLimited(resetMilliseconds: Int64, now: Int64) -> EmulatorResponse {
        var r = error(429, "429000", "Too Many Requests")
        r.headers = [("gw-ratelimit-reset", String(resetMilliseconds)), ("gw-ratelimit-remaining", "0")]
        return r
    }

    /// KuCoin states the pool on every answer.
    func quotaHeaders(limit: Int, remaining: Int, resetMilliseconds: Int64) -> [(String, String)] {
        [("gw-ratelimit-limit", String(limit)), ("gw-ratelimit-remaining", String(remaining)),
         ("gw-ratelimit-reset", String(resetMilliseconds))]
    }

    func addressRefused(now: Int64) -> EmulatorResponse? {
        error(401, "400006", "The requested IP address is not in the api whitelist")
    }

    func clockError(now: Int64) -> EmulatorResponse {
        error(401, "400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 s")
    }

    func serve(_ request: EmulatorRequest, key: String, logical: String, state: EmulatorState,
               now: Int64) -> EmulatorResponse {
        let s = request.path.split(separator: "/").map(String.init)
        let m = request.method
        // The classic and the high-frequency paths behave alike here.
        let orders = s.starts(with: ["api", "v1", "orders"]) ? 3 : s.starts(with: ["api", "v1", "hf", "orders"]) ? 4 : nil
        // Looking an order up by its client id: classic `/api/v1/order/client-order/{id}`, high-frequency
        // `/api/v1/hf/orders/client-order/{id}?symbol=`.
        let byClient = s.count == 5 && s.starts(with: ["api", "v1", "order", "client-order"]) ? s[4]
            : s.count == 6 && s.starts(with: ["api", "v1", "hf", "orders", "client-order"]) ? s[5] : nil
        if m == "GET", let clientOid = byClient {
            return state.perform(.kucoin, key: key, logicalCall: nil) { account in
                guard let order = account.placed[clientOid] else { return error(404, "400100", "order not exist.") }
                return ok(#"{"id":\#(Answer.string(order)),"clientOid":\#(Answer.string(clientOid)),"isActive":true}"#)
            }
        }
        if m == "GET", orders != nil {
            return state.perform(.kucoin, key: key, logicalCall: nil) { _ in
                ok(#"{"currentPage":1,"pageSize":50,"totalNum":0,"totalPage":0,"items":[]}"#)
            }
        }
        if m == "DELETE", let n = orders, s.count == n + 1 {
            // Any id is an open order until it is cancelled once; cancelling it again is 400100.
            let id = s[n]
            return state.perform(.kucoin, key: key, logicalCall: logical) { account in
                guard account.cancelled.insert(id).inserted else {
                    return error(400, "400100", "order_not_exist_or_not_allow_to_cancel")
                }
                return ok(#"{"cancelledOrderIds":[\#(Answer.string(id))]}"#)
            }
        }
        if m == "DELETE", let n = orders, s.count == n {
            return state.perform(.kucoin, key: key, logicalCall: logical) { _ in ok(#"{"cancelledOrderIds":[]}"#) }
        }
        if m == "POST", let n = orders, s.count == n {
            guard let body = try? JSONValue(parsing: request.body), case .string(let clientOid)? = body["clientOid"] else {
                state.reject(.kucoin, key: key, .badRequest)
                return error(400, "400100", "clientOid is required")
            }
            return state.perform(.kucoin, key: key, logicalCall: logical) { account in
                account.submitted[clientOid, default: 0] += 1
                if account.placed[clientOid] != nil { return error(400, "400100", "clientOid duplicated") }
                let order = "6\(String(account.nextOrderNumber, radix: 16))"
                account.nextOrderNumber += 1
                account.placed[clientOid] = order
                return ok(#"{"orderId":\#(Answer.string(order))}"#)
            }
        }
        if m == "GET", s == ["api", "v1", "accounts"] {
            // Account management: the balances (none here), the management pool's endpoint.
            return state.perform(.kucoin, key: key, logicalCall: nil) { _ in ok("[]") }
        }
        state.reject(.kucoin, key: key, .notFound)
        return error(404, "404000", "Url Not Found")
    }
}
