import PacerCore

/// One provider as the emulator speaks it: how it authenticates a request, how it refuses, and the business
/// endpoints it serves. One file per provider, beside the client side in PacerProviders.
protocol EmulatedAPI: Sendable {
    var provider: Provider { get }
    /// Answers an unsigned endpoint (KuCoin's server time), or `nil` for a private call.
    func publicAnswer(_ request: EmulatorRequest, now: Int64) -> EmulatorResponse?
    /// Identifies the account and checks its timestamp window, nonce and signature, exactly as documented.
    func authenticate(_ request: EmulatorRequest, state: EmulatorState, now: Int64) -> Authentication
    func rateLimited(resetMilliseconds: Int64, now: Int64) -> EmulatorResponse
    func clockError(now: Int64) -> EmulatorResponse
    /// The refusal of a request from an address outside the account's whitelist, or nil where the provider
    /// publishes none (Kookeey): then the emulator does not check addresses.
    func addressRefused(now: Int64) -> EmulatorResponse?
    /// What the call asks for, without the signing fields: two requests with the same logical call are the same
    /// call sent twice (the exactly-once check counts these).
    func logicalCall(_ request: EmulatorRequest) -> String
    /// Performs the call on the account's state; records `logical` (its `logicalCall`) when it changes or reads
    /// something.
    func serve(_ request: EmulatorRequest, key: String, logical: String, state: EmulatorState, now: Int64) -> EmulatorResponse
    /// Headers stating the account's quota on every answer, for providers that send them (KuCoin).
    func quotaHeaders(limit: Int, remaining: Int, resetMilliseconds: Int64) -> [(String, String)]
}

extension EmulatedAPI {
    func addressRefused(now: Int64) -> EmulatorResponse? { nil }
    func quotaHeaders(limit: Int, remaining: Int, resetMilliseconds: Int64) -> [(String, String)] { [] }
}

enum Authentication {
    case accepted(key: String)
    case refused(key: String?, reason: Rejection, response: EmulatorResponse)
}

extension Provider {
    var emulated: any EmulatedAPI {
        switch self {
        case .kookeey: return KookeeyEmulator()
        case .kucoin: return KuCoinEmulator()
        case .bitunix: return BitunixEmulator()
        case .bitz: return BitZEmulator()
        }
    }
}

/// Small helpers for writing JSON answers.
enum Answer {
    static func string(_ s: String) -> String {
        var out = ""
        JSONValue.writeString(s, to: &out)
        return out
    }
}
