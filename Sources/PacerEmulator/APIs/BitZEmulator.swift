import Foundation
import PacerCore
import PacerProviders

/// Bit-Z: form-encoded `POST /<Module>/<action>` signed with MD5 over the sorted params plus the secret;
/// answers `{"status":200,...,"time":secs,"microtime":"...","source":"api"}`.
struct BitZEmulator: EmulatedAPI {
    var provider: Provider { .bitz }
    /// Not published; the decision recorded in docs/providers.md is 60 s and code -103.
    static let timestampWindowSeconds: Int64 = 60

    func envelope(_ status: Int, _ msg: String = "", data: String = "null", now: Int64) -> EmulatorResponse {
        let secs = now / 1000
        let micro = String(format: "0.%08d %lld", Int(now % 1000) * 100_000, secs)
        return EmulatorResponse(body: #"{"status":\#(status),"msg":\#(Answer.string(msg)),"data":\#(data),"time":\#(secs),"microtime":"\#(micro)","source":"api"}"#)
    }

    func params(_ request: EmulatorRequest) -> [(key: String, value: String)] {
        request.method == "GET" ? request.queryPairs : EmulatorRequest.decodePairs(request.bodyText)
    }

    /// The call's own params, without the signing fields.
    func businessParams(_ request: EmulatorRequest) -> [(key: String, value: String)] {
        params(request).filter { !["apiKey", "timeStamp", "nonce", "sign"].contains($0.key) }
    }

    func logicalCall(_ request: EmulatorRequest) -> String {
        let business = businessParams(request)
        return "\(request.method) \(request.path) "
            + business.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&")
    }

    func publicAnswer(_ request: EmulatorRequest, now: Int64) -> EmulatorResponse? { nil }

    func authenticate(_ request: EmulatorRequest, state: EmulatorState, now: Int64) -> Authentication {
        let pairs = params(request)
        func value(_ k: String) -> String? { pairs.first { $0.key == k }?.value }
        guard let key = value("apiKey"), let account = state.account(.bitz, key: key) else {
            return .refused(key: nil, reason: .unknownKey, response: envelope(-109, "apiKey error", now: now))
        }
        guard let ts = value("timeStamp").flatMap({ Int64($0) }), let sign = value("sign"), value("nonce") != nil else {
            return .refused(key: key, reason: .badRequest, response: envelope(-102, "params error", now: now))
        }
        guard abs(now / 1000 - ts) <= Self.timestampWindowSeconds else {
            return .refused(key: key, reason: .expired, response: envelope(-103, "timeStamp error", now: now))
        }
        guard BitZ.sign(pairs.filter { $0.key != "sign" }, secret: account.secret) == sign else {
            return .refused(key: key, reason: .badSignature, response: envelope(-105, "sign error", now: now))
        }
        return .accepted(key: key)
    }

    func rateLimited(resetMilliseconds: Int64, now: Int64) -> EmulatorResponse {
        envelope(-110, "too many requests", now: now)
    }

    func clockError(now: Int64) -> EmulatorResponse { envelope(-103, "timeStamp error", now: now) }
    func addressRefused(now: Int64) -> EmulatorResponse? { envelope(-111, "IP not trusted", now: now) }

    func serve(_ request: EmulatorRequest, key: String, logical: String, state: EmulatorState,
               now: Int64) -> EmulatorResponse {
        let business = businessParams(request)
        func value(_ k: String) -> String? { business.first { $0.key == k }?.value }
        switch request.path {
        case "/Trade/cancelAllEntrustSheet", "/Trade/cancelEntrustSheet":
            guard let ids = value("ids") ?? value("entrustSheetId"), !ids.isEmpty else {
                state.reject(.bitz, key: key, .badRequest)
                return envelope(-102, "ids required", now: now)
            }
            return state.perform(.bitz, key: key, logicalCall: logical) { account in
                var done: [String] = [], gone: [String] = []
                for id in ids.split(separator: ",").map(String.init) {
                    if account.cancelled.insert(id).inserted { done.append(id) } else { gone.append(id) }
                }
                let list = { (xs: [String]) in xs.map(Answer.string).joined(separator: ",") }
                return envelope(200, data: #"{"updateAssetsData":{},"success":[\#(list(done))],"failed":[\#(list(gone))]}"#, now: now)
            }
        case "/Trade/getUserNowEntrustSheet":
            return state.perform(.bitz, key: key, logicalCall: nil) { _ in
                envelope(200, data: #"{"data":[],"pageInfo":{"page":1,"pageSize":100}}"#, now: now)
            }
        case "/Trade/addEntrustSheet":
            return state.perform(.bitz, key: key, logicalCall: logical) { account in
                let order = String(account.nextOrderNumber)
                account.nextOrderNumber += 1
                return envelope(200, data: #"{"id":\#(Answer.string(order))}"#, now: now)
            }
        default:
            state.reject(.bitz, key: key, .notFound)
            return envelope(-102, "unknown interface \(request.path)", now: now)
        }
    }
}
