import PacerCore

/// Kookeey (proxy inventory and orders). Every call is a signed `GET /<method>?...`.
///
/// Signing: the method's params and `ts` (unix seconds), in URL order, `k=v` joined by `&`; `accessid` and
/// `signature` are not part of it. `signature = base64(lowercase_hex(HMAC-SHA1(token, string)))`: base64 of the
/// hex *text* (the docs' PHP, Python and examples agree; their Java line does not). Values are signed as they
/// are, and percent-encoded in the URL, as is the signature (it contains `+`, `/` and `=`).
public struct Kookeey: ProviderAPI {
    public init() {}
    public var provider: Provider { .kookeey }
    public var nonceLength: Int? { nil }
    /// "Request frequency limit: 10 qps/s per account", every method alike.
    public var documentedLimits: AccountLimits { AccountLimits(RateLimit(count: 10, windowMilliseconds: 1_000)) }

    public func sign(_ request: APIRequest, baseURL: String, credentials: Credentials,
                     inputs: SigningInputs) -> SignedRequest {
        let ts = String(inputs.nowMilliseconds / 1000)
        let signed = request.textParams + [("ts", ts)]
        let signature = Self.signature(signed.map { "\($0.key)=\($0.value)" }.joined(separator: "&"),
                                       token: credentials.secret)
        let query = Wire.query([("accessid", credentials.key)] + signed + [("signature", signature)])
        return SignedRequest(method: .get, url: Wire.url(base: baseURL, path: request.path, query: query),
                             headers: [], body: nil)
    }

    /// `base64(lowercase_hex(HMAC-SHA1(token, string)))`.
    public static func signature(_ string: String, token: String) -> String {
        Wire.base64(Array(Wire.hex(Wire.hmacSHA1(key: token, string)).utf8))
    }

    /// `pacer account test`: the stock of the documents' example group.
    public var accountCheck: APIRequest { APIRequest(method: .get, path: "/stock", params: [.init("g", .string("433"))]) }

    /// Kookeey publishes no whitelist code; 10059 "invalid or expired signature" names the secret (a clock that
    /// far off shows as 10015 first).
    public func refusedPart(code: String) -> AccountPart? {
        switch code {
        case "10015": return .clock
        case "10059": return .secret
        case "40001", "40009": return .key
        case "40010", "40015": return .account
        default: return nil
        }
    }

    /// The code table (docs/providers.md). Anything not listed is permanent: retrying an unknown refusal only
    /// spends quota.
    static let codes: [Int: CodeRule] = [
        60001: CodeRule(.rateLimited),
        10015: CodeRule(.clock(escalatesToAuth: false)),
        10059: CodeRule(.clock(escalatesToAuth: true)),
        10003: CodeRule(.transient, ambiguous: true), 10005: CodeRule(.transient), // system error; busy (refused)
        10006: CodeRule(.permanent), 10045: CodeRule(.permanent), 10061: CodeRule(.permanent),
        40017: CodeRule(.permanent),
        20001: CodeRule(.permanent), 20002: CodeRule(.permanent), 20003: CodeRule(.permanent),
        20004: CodeRule(.permanent),
        40001: CodeRule(.auth), 40009: CodeRule(.auth), 40010: CodeRule(.auth), 40015: CodeRule(.auth),
        40005: CodeRule(.permanent), 40012: CodeRule(.permanent),
        80003: CodeRule(.transient, after: 60_000), // insufficient inventory: wait for restock
        80007: CodeRule(.duplicate),
        80004: CodeRule(.permanent), 80005: CodeRule(.permanent), 80008: CodeRule(.permanent),
    ]

    // MARK: Dedupe: `orderno` on order methods.

    /// Order methods take the caller's `orderno` and refuse a second submission of it (80007). Their names are not
    /// published, so a method counts when its name mentions "order" and none of the words of reading or cancelling;
    /// Kookeey has no lookup by `orderno`.
    public func dedupeField(method: HTTPMethod, path: String) -> String? {
        guard let name = path.split(separator: "/").last?.lowercased(), name.contains("order") else { return nil }
        let notPlacing = ["cancel", "list", "query", "get", "detail", "info", "status", "release", "renew"]
        return notPlacing.contains { name.contains($0) } ? nil : "orderno"
    }

    public func isDuplicateKey(_ outcome: Outcome) -> Bool { outcome.code == "80007" }

    /// 20003 "Data already exists" (and 80007 for an order): what the call creates is there already.
    public func isAlreadyDone(_ outcome: Outcome, request: APIRequest) -> Bool {
        outcome.code == "20003" || outcome.code == "80007"
    }

    public func interpret(_ reply: HTTPReply, overrides: [String: Classification]) -> Outcome {
        let serverTime = reply.header("Date").flatMap(HTTPDate.milliseconds)
        guard reply.status == 200, let envelope = Envelope.parse(reply.body), let code = envelope.int("code") else {
            return Outcome(HTTPStatusRules.classify(reply.status) == .ok ? .transient : HTTPStatusRules.classify(reply.status),
                           message: "HTTP \(reply.status) without a Kookeey envelope", serverTimeMilliseconds: serverTime,
                           mayHaveExecuted: HTTPStatusRules.mayHaveExecutedWithoutEnvelope(reply.status))
                .hinted(by: reply)
        }
        let rule = code == 0 && envelope.bool("success") != false ? CodeRule(.ok) : Self.codes[code] ?? CodeRule(.permanent)
        return Outcome(rule.classification, code: String(code), message: envelope.text("msg"),
                       data: envelope.json("data"), retryAfterMilliseconds: rule.retryAfterMilliseconds,
                       serverTimeMilliseconds: serverTime, mayHaveExecuted: rule.ambiguous).hinted(by: reply).overridden(by: overrides)
    }
}
