import PacerCore

/// Bit-Z. Private calls are form-encoded `POST /<Module>/<action>` with `apiKey`, `timeStamp` (unix seconds),
/// `nonce` (6 characters) and `sign` added.
///
/// `sign = hex(MD5(k=v&k=v... + secretKey))` over every param but `sign`, **sorted by name** in byte order,
/// values not percent-encoded, the secret appended with no separator. The docs' own example is unsorted and does
/// not reproduce; Pacer follows the written rule (a decision recorded in docs/providers.md).
public struct BitZ: ProviderAPI {
    public init() {}
    public var provider: Provider { .bitz }
    public var nonceLength: Int? { 6 }

    /// "30 requests per second per interface per account; 5000 per minute overall": every call draws from its
    /// interface's own pool and from the account's default pool.
    public var documentedLimits: AccountLimits {
        AccountLimits(pools: [.init(name: "", windows: [RateLimit(count: 5000, windowMilliseconds: 60_000)]),
                              .init(name: "interface", windows: [RateLimit(count: 30, windowMilliseconds: 1_000)])])
    }
    public var endpoints: EndpointTable { EndpointTable([], fallback: EndpointCost(pools: [""], perEndpoint: ["interface"])) }

    public func sign(_ request: APIRequest, baseURL: String, credentials: Credentials,
                     inputs: SigningInputs) -> SignedRequest {
        let all = request.textParams + [("apiKey", credentials.key), ("timeStamp", String(inputs.nowMilliseconds / 1000)),
                                        ("nonce", inputs.nonce)]
        let signed = all + [("sign", Self.sign(all, secret: credentials.secret))]
        let form = Wire.query(signed)
        if request.method == .get {
            return SignedRequest(method: .get, url: Wire.url(base: baseURL, path: request.path, query: form),
                                 headers: [], body: nil)
        }
        return SignedRequest(method: request.method, url: Wire.url(base: baseURL, path: request.path, query: ""),
                             headers: [.init("Content-Type", "application/x-www-form-urlencoded")], body: form)
    }

    /// The string that is hashed, without the secret: sorted `k=v` pairs joined by `&`.
    public static func signingString(_ pairs: [(key: String, value: String)]) -> String {
        Wire.sortedByKey(pairs).map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    public static func sign(_ pairs: [(key: String, value: String)], secret: String) -> String {
        Wire.md5Hex(signingString(pairs) + secret)
    }

    /// `pacer account test`: the open orders (one page).
    public var accountCheck: APIRequest {
        APIRequest(method: .post, path: "/Trade/getUserNowEntrustSheet", params: [.init("page", .string("1"))])
    }

    public func refusedPart(code: String) -> AccountPart? {
        switch code {
        case "-109": return .key
        case "-105": return .secret
        case "-111": return .address
        case "-103": return .clock
        case "-117": return .account
        default: return nil
        }
    }

    /// The code table (docs/providers.md). -103 as "timestamp out of window" is a decision.
    static let codes: [Int: CodeRule] = [
        -110: CodeRule(.rateLimited),
        -114: CodeRule(.rateLimited), // daily limit: held until the next UTC day (see interpret)
        -105: CodeRule(.auth), -109: CodeRule(.auth), -117: CodeRule(.auth), -111: CodeRule(.auth),
        -102: CodeRule(.permanent),
        -104: CodeRule(.transient, ambiguous: true), -106: CodeRule(.transient, ambiguous: true), // unpublished meaning
        -112: CodeRule(.transient, after: 300_000), // maintenance: long backoff
        -103: CodeRule(.clock(escalatesToAuth: true)),
    ]

    public func interpret(_ reply: HTTPReply, overrides: [String: Classification]) -> Outcome {
        let dateHeader = reply.header("Date").flatMap(HTTPDate.milliseconds)
        guard reply.status == 200, let envelope = Envelope.parse(reply.body), let status = envelope.int("status") else {
            let byStatus = HTTPStatusRules.classify(reply.status)
            return Outcome(byStatus == .ok ? .transient : byStatus, code: String(reply.status),
                           message: "HTTP \(reply.status) without a Bit-Z envelope", serverTimeMilliseconds: dateHeader,
                           mayHaveExecuted: HTTPStatusRules.mayHaveExecutedWithoutEnvelope(reply.status))
                .hinted(by: reply).overridden(by: overrides)
        }
        let serverTime = envelope.int("time").map { Int64($0) * 1000 } ?? dateHeader
        // Errors may also come as status 200 with a negative code as the payload.
        let code = status == 200 ? (envelope.int("data").flatMap { $0 < 0 ? $0 : nil } ?? 200) : status
        var rule = code == 200 ? CodeRule(.ok) : Self.codes[code] ?? CodeRule(.permanent)
        if code == -114, let now = serverTime {
            rule = CodeRule(.rateLimited, after: 86_400_000 - now % 86_400_000) // until 00:00 UTC
        }
        return Outcome(rule.classification, code: String(code), message: envelope.text("msg"),
                       data: code == 200 ? envelope.json("data") : nil,
                       retryAfterMilliseconds: rule.retryAfterMilliseconds,
                       serverTimeMilliseconds: serverTime, mayHaveExecuted: rule.ambiguous).hinted(by: reply).overridden(by: overrides)
    }
}
