import PacerCore
import PacerProviders

/// Kookeey: `GET /<method>?accessid=..&<params>&ts=..&signature=..`, HTTP 200 for every answer.
struct KookeeyEmulator: EmulatedAPI {
    var provider: Provider { .kookeey }
    /// Not published; the decision recorded in docs/providers.md is 30 s.
    static let timestampWindowSeconds: Int64 = 30

    func envelope(code: Int, msg: String, data: String = "null") -> EmulatorResponse {
        EmulatorResponse(body: #"{"success":\#(code == 0),"data":\#(data),"msg":\#(Answer.string(msg)),"code":\#(code)}"#)
    }

    /// The method's own params, without the signing fields.
    func businessParams(_ request: EmulatorRequest) -> [(key: String, value: String)] {
        request.queryPairs.filter { !["accessid", "signature", "ts"].contains($0.key) }
    }

    func logicalCall(_ request: EmulatorRequest) -> String {
        let params = businessParams(request)
        return "GET \(request.path)?" + params.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    func publicAnswer(_ request: EmulatorRequest, now: Int64) -> EmulatorResponse? { nil }

    func authenticate(_ request: EmulatorRequest, state: EmulatorState, now: Int64) -> Authentication {
        let pairs = request.queryPairs
        guard request.method == "GET" else {
            return .refused(key: nil, reason: .badRequest, response: envelope(code: 10006, msg: "GET only"))
        }
        guard let key = pairs.first(where: { $0.key == "accessid" })?.value,
              let account = state.account(.kookeey, key: key) else {
            return .refused(key: nil, reason: .unknownKey, response: envelope(code: 40001, msg: "Authentication error"))
        }
        guard let ts = pairs.first(where: { $0.key == "ts" }).flatMap({ Int64($0.value) }),
              let signature = pairs.first(where: { $0.key == "signature" })?.value else {
            return .refused(key: key, reason: .badRequest, response: envelope(code: 10006, msg: "ts and signature required"))
        }
        guard abs(now / 1000 - ts) <= Self.timestampWindowSeconds else {
            return .refused(key: key, reason: .expired, response: envelope(code: 10015, msg: "Signature timeout"))
        }
        // The signed string: every param but accessid and signature, in the order it appears in the URL.
        let signed = pairs.filter { $0.key != "accessid" && $0.key != "signature" }
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        guard Kookeey.signature(signed, token: account.secret) == signature else {
            return .refused(key: key, reason: .badSignature, response: envelope(code: 10059, msg: "Invalid signature"))
        }
        return .accepted(key: key)
    }

    func rateLimited(resetMilliseconds: Int64, now: Int64) -> EmulatorResponse {
        envelope(code: 60001, msg: "Request frequency too high")
    }

    func clockError(now: Int64) -> EmulatorResponse { envelope(code: 10015, msg: "Signature timeout") }

    func serve(_ request: EmulatorRequest, key: String, logical: String, state: EmulatorState,
               now: Int64) -> EmulatorResponse {
        let params = businessParams(request)
        func value(_ k: String) -> String? { params.first { $0.key == k }?.value }
        switch request.path {
        case "/stock":
            guard let g = value("g") else { return envelope(code: 10006, msg: "g required") }
            let stock = (Int(g) ?? g.count) * 7 % 1000
            return state.perform(.kookeey, key: key, logicalCall: logical) { _ in
                envelope(code: 0, msg: "ok", data: #"{"g":\#(Answer.string(g)),"stock":\#(stock)}"#)
            }
        case "/renew", "/release":
            guard let line = value("line") else { return envelope(code: 10006, msg: "line required") }
            return state.perform(.kookeey, key: key, logicalCall: logical) { _ in
                envelope(code: 0, msg: "ok", data: #"{"line":\#(Answer.string(line)),"status":"done"}"#)
            }
        case "/order":
            // Orders carry the caller's own number; a second submission of it is a duplicate (80007).
            guard let no = value("orderno") else { return envelope(code: 10006, msg: "orderno required") }
            return state.perform(.kookeey, key: key, logicalCall: logical) { account in
                account.submitted[no, default: 0] += 1
                if let existing = account.placed[no] {
                    return envelope(code: 80007, msg: "Duplicate order submission", data: #"{"order":\#(Answer.string(existing))}"#)
                }
                let order = "K\(account.nextOrderNumber)"
                account.nextOrderNumber += 1
                account.placed[no] = order
                return envelope(code: 0, msg: "ok", data: #"{"order":\#(Answer.string(order))}"#)
            }
        default:
            state.reject(.kookeey, key: key, .notFound)
            return envelope(code: 10006, msg: "Unknown method \(request.path)")
        }
    }
}
