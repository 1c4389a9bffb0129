import PacerCore

/// One provider's wire format: how a call is signed and sent, and what its answers mean.
///
/// Implementations are pure: the time and the nonce are inputs, so a signature can be reproduced exactly
/// (`pacer call --dry-run --at ... --nonce ...`) and golden-tested. Each provider lives in one file with its
/// signer, its envelope parser, its table of codes and its dedupe rules.
public protocol ProviderAPI: DedupeRules {
    var provider: Provider { get }
    /// Length of the random nonce this provider wants, or `nil` when it takes none.
    var nonceLength: Int? { get }
    /// The exact request to send for `request` on the account at `baseURL`.
    func sign(_ request: APIRequest, baseURL: String, credentials: Credentials, inputs: SigningInputs) -> SignedRequest
    /// What the provider's answer means; `overrides` (a job's `on:` map) re-classify individual codes.
    func interpret(_ reply: HTTPReply, overrides: [String: Classification]) -> Outcome
    /// A public endpoint that tells the provider's time (to measure the clock offset after a clock error), and
    /// how to read it; nil where the `Date` header of any answer serves (whole seconds, ample for 30-60 s windows).
    var serverTimeEndpoint: String? { get }
    func serverTime(in reply: HTTPReply) -> Int64?
    /// Whether accounts need a passphrase beside key and secret, and may carry broker attribution.
    var needsPassphrase: Bool { get }
    var takesBrokerAttribution: Bool { get }
    /// A cheap signed read that any working account may make (`pacer account test`): no side effects.
    var accountCheck: APIRequest { get }
    /// The part of the account a refusal's `code` names (`pacer account test`), or nil when it names none.
    func refusedPart(code: String) -> AccountPart?
    /// The pools the provider documents for an account (`account add` without `--limit`), and which pool each
    /// endpoint draws from at what weight (docs/pools.md).
    var documentedLimits: AccountLimits { get }
    var endpoints: EndpointTable { get }
}

extension ProviderAPI {
    public var serverTimeEndpoint: String? { nil }
    public func serverTime(in reply: HTTPReply) -> Int64? { nil }
    public var needsPassphrase: Bool { false }
    public var takesBrokerAttribution: Bool { false }
    public var endpoints: EndpointTable { EndpointTable([]) }
}

extension Provider {
    /// The implementation for this provider.
    public var api: any ProviderAPI {
        switch self {
        case .kookeey: return Kookeey()
        case .kucoin: return KuCoin()
        case .bitunix: return Bitunix()
        case .bitz: return BitZ()
        }
    }
}

/// A call as the job describes it: method, the provider-side path, ordered params, and an explicit JSON body.
public struct APIRequest: Sendable, Equatable {
    public var method: HTTPMethod
    /// The path the provider sees (and signs), without the account's base-URL prefix.
    public var path: String
    public var params: [JSONValue.Member]
    /// A JSON body given by the job's `body:`; when `nil`, JSON-body providers send `params` as the body.
    public var body: String?

    public init(method: HTTPMethod, path: String, params: [JSONValue.Member] = [], body: String? = nil) {
        self.method = method
        self.path = path
        self.params = params
        self.body = body
    }

    /// Builds a request from a stored call's columns (params as a JSON object text).
    public init(method: HTTPMethod, path: String, paramsJSON: String, body: String?) throws {
        guard case .object(let members) = try JSONValue(parsing: paramsJSON) else {
            throw JSONValue.ParseError(offset: 0, message: "params must be a JSON object")
        }
        self.init(method: method, path: path, params: members, body: body)
    }

    /// The JSON body for JSON-body providers: the explicit body, or the params as an object.
    var jsonBody: String { body ?? JSONValue.object(params).compactText }

    /// Params as `key=value` text pairs, in order (arrays comma-joined).
    var textParams: [(key: String, value: String)] { params.map { ($0.key, $0.value.plainText) } }
}

/// Secrets, resolved from the environment or a file at send time. Never stored, never printed: the
/// description shows the key and hides the rest, so a stray log line cannot leak them.
public struct Credentials: Sendable, CustomStringConvertible {
    public var key: String
    public var secret: String
    public var passphrase: String?
    public var partner: String?
    public var brokerName: String?
    public var brokerKey: String?

    public init(key: String, secret: String, passphrase: String? = nil, partner: String? = nil,
                brokerName: String? = nil, brokerKey: String? = nil) {
        self.key = key
        self.secret = secret
        self.passphrase = passphrase
        self.partner = partner
        self.brokerName = brokerName
        self.brokerKey = brokerKey
    }

    public var description: String { "Credentials(key: \(key), secret: <redacted>)" }
}

/// What a signature depends on besides the request and the secret.
public struct SigningInputs: Sendable, Equatable {
    public var nowMilliseconds: Int64
    public var nonce: String

    public init(nowMilliseconds: Int64, nonce: String) {
        self.nowMilliseconds = nowMilliseconds
        self.nonce = nonce
    }
}

/// The bytes that go on the wire.
public struct SignedRequest: Sendable, Equatable {
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var method: HTTPMethod
    public var url: String
    public var headers: [Header]
    public var body: String?

    public init(method: HTTPMethod, url: String, headers: [Header], body: String?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { HeaderName.same($0.name, name) }?.value
    }
}

/// An HTTP answer as received.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, headers: [(name: String, value: String)] = [], body: String) {
        self.init(status: status, headers: headers, body: Array(body.utf8))
    }

    public func header(_ name: String) -> String? {
        headers.first { HeaderName.same($0.name, name) }?.value
    }
}

/// HTTP header names compare without regard to ASCII case. Compared in place: every answer's headers are looked
/// up several times, and lowercasing both sides allocated two strings per header per look.
enum HeaderName {
    static func same(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }
}
