import Foundation
import PacerCore

/// A request as an emulated provider sees it: the path after the provider's prefix, the raw query, headers
/// (names lowercased) and the body bytes.
struct EmulatorRequest: Sendable {
    var method: String
    var path: String
    var rawQuery: String
    var headers: [String: String]
    var body: [UInt8]
    /// The client's IP address, as the server saw it (for whitelists).
    var remoteAddress: String? = nil

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Query or form pairs in the order sent, decoded the way servers decode them: `+` is a space, then
    /// percent-escapes. (So a client that leaves a `+` unescaped in a signature gets a wrong signature.)
    static func decodePairs(_ raw: String) -> [(key: String, value: String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
    }

    var queryPairs: [(key: String, value: String)] { Self.decodePairs(rawQuery) }
}

/// What the emulator answers.
struct EmulatorResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: String
    /// Close the connection instead of answering (an injected drop or lost response).
    var drop = false

    init(status: Int = 200, headers: [(String, String)] = [], body: String, drop: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.drop = drop
    }

    static let dropped = EmulatorResponse(status: 200, body: "", drop: true)
}

/// Why a request was refused, as counted in the stats.
enum Rejection: String, Sendable {
    case unknownKey = "unknown_key"
    case badSignature = "bad_signature"
    case badPassphrase = "bad_passphrase"
    case badPartner = "bad_partner"
    case addressRefused = "address_refused"
    case expired = "expired"
    case nonceReused = "nonce_reused"
    case rateLimited = "rate_limited"
    case badRequest = "bad_request"
    case notFound = "not_found"
    case faultRateLimit = "fault_rate_limit"
    case faultClock = "fault_clock"
    case faultServerError = "fault_500"
    case faultUnavailable = "fault_503"
    case faultDrop = "fault_drop"
    /// Not a refusal: the call was performed and its answer withheld. Counted with the refusals for the stats.
    case faultLostResponse = "fault_lost_response"
    /// Not a refusal either: performed, then answered 504.
    case faultGatewayTimeout = "fault_504"
}
