import PacerCore
import PacerProviders

/// Bitunix: header-signed (double SHA-256), `{"code":0,"msg":"Success","data":...}`, nonces never reused.
struct BitunixEmulator: EmulatedAPI {
    var provider: Provider { .bitunix }
    static let timestampWindowMilliseconds: Int64 = 60_000

    func envelope(_ code: Int, _ msg: String, data: String = "null") -> EmulatorResponse {
        EmulatorResponse(body: #"{"code":\#(code),"msg":\#(Answer.string(msg)),"data":\#(data)}"#)
    }

    func logicalCall(_ request: EmulatorRequest) -> String {
        "\(request.method) \(request.path)?\(request.rawQuery) \(request.bodyText)"
    }

    func publicAnswer(_ request: EmulatorRequest, now: Int64) -> EmulatorResponse? { nil }

    func authenticate(_ request: EmulatorRequest, state: EmulatorState, now: Int64) -> Authentication {
        let h = request.headers
        guard let key = h["api-key"], !key.isEmpty else {
            return .refused(key: nil, reason: .unknownKey, response: envelope(10003, "api-key is empty"))
        }
        guard let account = state.account(.bitunix, key: key) else {
            return .refused(key: nil, reason: .unknownKey, response: envelope(10003, "api-key is invalid"))
        }
        guard let nonce = h["nonce"], nonce.count == 32, let tsText = h["timestamp"], let ts = Int64(tsText),
              let sign = h["sign"] else {
            return .refused(key: key, reason: .badRequest, response: envelope(10002, "nonce, timestamp and sign required"))
        }
        guard abs(now - ts) <= Self.timestampWindowMilliseconds else {
            return .refused(key: key, reason: .expired, response: envelope(10009, "Request expired"))
        }
        let expected = Bitunix.sign(nonce: nonce, timestamp: tsText, apiKey: key,
                                    queryParams: Bitunix.queryParams(request.queryPairs), body: request.bodyText,
                                    secret: account.secret)
        guard expected == sign else {
            return .refused(key: key, reason: .badSignature, response: envelope(10007, "Signature Error"))
        }
        guard state.useNonce(.bitunix, key: key, nonce: nonce, at: now,
                             windowMilliseconds: 2 * Self.timestampWindowMilliseconds) else {
            return .refused(key: key, reason: .nonceReused, response: envelope(10007, "Signature Error: nonce reused"))
        }
        return .accepted(key: key)
    }

    func rateLimited(resetMilliseconds: Int64, now: Int64) -> EmulatorResponse { envelope(10006, "Too frequent requests") }

    func clockError(now: Int64) -> EmulatorResponse { envelope(10009, "Request expired") }
    func addressRefused(now: Int64) -> EmulatorResponse? { envelope(10004, "IP not in whitelist") }

    func serve(_ request: EmulatorRequest, key: String, logical: String, state: EmulatorState,
               now: Int64) -> EmulatorResponse {
        switch (request.method, request.path) {
        case ("POST", "/api/v1/futures/trade/cancel_orders"):
            guard let body = try? JSONValue(parsing: request.body), case .array(let ids)? = body["orderIdList"] else {
                state.reject(.bitunix, key: key, .badRequest)
                return envelope(10002, "orderIdList required")
            }
            return state.perform(.bitunix, key: key, logicalCall: logical) { account in
                var success: [String] = [], failure: [String] = []
                for id in ids.map(\.plainText) {
                    if account.cancelled.insert(id).inserted { success.append(id) } else { failure.append(id) }
                }
                let s = success.map { #"{"orderId":\#(Answer.string($0))}"# }.joined(separator: ",")
                let f = failure.map { #"{"orderId":\#(Answer.string($0)),"errorMsg":"Order not exists","errorCode":"30001"}"# }
                    .joined(separator: ",")
                return envelope(0, "Success", data: #"{"successList":[\#(s)],"failureList":[\#(f)]}"#)
            }
        case ("GET", "/api/v1/futures/trade/get_pending_orders"):
            return state.perform(.bitunix, key: key, logicalCall: nil) { _ in
                envelope(0, "Success", data: #"{"orderList":[],"total":"0"}"#)
            }
        case ("POST", "/api/v1/futures/trade/place_order"):
            // An order with a `clientId` is placed once; a second with the same one is refused with 10008.
            let clientId = (try? JSONValue(parsing: request.body))?["clientId"]?.plainText
            return state.perform(.bitunix, key: key, logicalCall: logical) { account in
                if let clientId { account.submitted[clientId, default: 0] += 1 }
                if let clientId, account.placed[clientId] != nil { return envelope(10008, "Duplicate clientId") }
                let order = "B\(account.nextOrderNumber)"
                account.nextOrderNumber += 1
                if let clientId { account.placed[clientId] = order }
                return envelope(0, "Success", data: #"{"orderId":\#(Answer.string(order)),"clientId":\#(Answer.string(clientId ?? ""))}"#)
            }
        case ("GET", "/api/v1/futures/trade/get_order_detail"):
            let clientId = request.queryPairs.first { $0.key == "clientId" }?.value ?? ""
            return state.perform(.bitunix, key: key, logicalCall: nil) { account in
                guard let order = account.placed[clientId] else { return envelope(10002, "Order not exists") }
                return envelope(0, "Success",
                                data: #"{"orderId":\#(Answer.string(order)),"clientId":\#(Answer.string(clientId)),"status":"NEW"}"#)
            }
        default:
            state.reject(.bitunix, key: key, .notFound)
            return EmulatorResponse(status: 404, body: #"{"code":404,"msg":"Not Found"}"#)
        }
    }
}
