import PacerCore

/// Bitunix spot/futures.
///
/// `digest = hex(SHA256(nonce + timestamp + apiKey + queryParams + body))`, `sign = hex(SHA256(digest + secret))`
/// — plain SHA-256 twice, not HMAC. `queryParams` is the params sorted by key (byte order), each written as key
/// then value with no separators; `body` is the exact JSON bytes sent (empty for GET).
public struct Bitunix: ProviderAPI {
    public init() {}
    public var provider: Provider { .bitunix }
    public var nonceLength: Int? { 32 }

    /// Limits are per endpoint and UID; the docs give order placement 10 per second, and Pacer takes that figure
    /// for every endpoint (docs/pools.md): each endpoint its own pool.
    public var documentedLimits: AccountLimits {
        AccountLimits(pools: [.init(name: "endpoint", windows: [RateLimit(count: 10, windowMilliseconds: 1_000)])])
    }
    public var endpoints: EndpointTable { EndpointTable([], fallback: EndpointCost(pools: [], perEndpoint: ["endpoint"])) }

    public func sign(_ request: APIRequest, baseURL: String, credentials: Credentials,
                     inputs: SigningInputs) -> SignedRequest {
        let ts = String(inputs.nowMilliseconds)
        let usesBody = request.method == .post || request.method == .put
        let pairs = usesBody ? [] : request.textParams
        let body = usesBody ? request.jsonBody : nil
        let sign = Self.sign(nonce: inputs.nonce, timestamp: ts, apiKey: credentials.key,
                             queryParams: Self.queryParams(pairs), body: body ?? "", secret: credentials.secret)
        return SignedRequest(
            method: request.method, url: Wire.url(base: baseURL, path: request.path, query: Wire.query(pairs)),
            headers: [.init("api-key", credentials.key), .init("nonce", inputs.nonce), .init("timestamp", ts),
                      .init("sign", sign), .init("Content-Type", "application/json")],
            body: body)
    }

    /// Params sorted by key in byte order, `key` immediately followed by `value`: `marginCoinUSDT`.
    public static func queryParams(_ pairs: [(key: String, value: String)]) -> String {
        Wire.sortedByKey(pairs).map { $0.key + $0.value }.joined()
    }

    public static func sign(nonce: String, timestamp: String, apiKey: String, queryParams: String, body: String,
                            secret: String) -> String {
        let digest = Wire.sha256Hex(nonce + timestamp + apiKey + queryParams + body)
        return Wire.sha256Hex(digest + secret)
    }

    /// `pacer account test`: the open orders of one symbol.
    public var accountCheck: APIRequest {
        APIRequest(method: .get, path: "/api/v1/futures/trade/get_pending_orders", params: [.init("symbol", .string("BTCUSDT"))])
    }

    public func refusedPart(code: String) -> AccountPart? {
        switch code {
        case "10003": return .key
        case "10004": return .address
        case "10007": return .secret
        case "10009": return .clock
        default: return nil
        }
    }

    /// The code table (docs/providers.md). 10009 as "request expired" is a decision: the published code is not
    /// confirmed.
    static let codes: [Int: CodeRule] = [
        10005: CodeRule(.rateLimited), 10006: CodeRule(.rateLimited),
        10007: CodeRule(.clock(escalatesToAuth: true)),
        10009: CodeRule(.clock(escalatesToAuth: false)),
        10003: CodeRule(.auth), 10004: CodeRule(.auth),
        10002: CodeRule(.permanent), 10008: CodeRule(.permanent),
        10001: CodeRule(.transient, ambiguous: true), // network error: may have reached the matching engine
    ]

    // MARK: Dedupe: `clientId` on order placement.

    static let placeOrderPath = "/api/v1/futures/trade/place_order"

    public func dedupeField(method: HTTPMethod, path: String) -> String? {
        method == .post && path == Self.placeOrderPath ? "clientId" : nil
    }

    /// 10008 answers a keyed order whose `clientId` was used. It is also a general "parameter not allowed" code,
    /// so the runner confirms it with `lookup` before it calls the order done.
    public func isDuplicateKey(_ outcome: Outcome) -> Bool { outcome.code == "10008" }

    /// `GET /api/v1/futures/trade/get_order_detail?clientId=...` (not in the providers specification: Bitunix's order-detail
    /// endpoint, which takes an `orderId` or the client's `clientId`).
    public func lookup(_ request: APIRequest, key: String) -> APIRequest? {
        guard dedupeField(method: request.method, path: request.path) != nil else { return nil }
        return APIRequest(method: .get, path: "/api/v1/futures/trade/get_order_detail", params: [.init("clientId", .string(key))])
    }

    public func interpret(_ reply: HTTPReply, overrides: [String: Classification]) -> Outcome {
        let serverTime = reply.header("Date").flatMap(HTTPDate.milliseconds)
        guard reply.status == 200, let envelope = Envelope.parse(reply.body), let code = envelope.int("code") else {
            let byStatus = HTTPStatusRules.classify(reply.status)
            return Outcome(byStatus == .ok ? .transient : byStatus, code: String(reply.status),
                           message: "HTTP \(reply.status) without a Bitunix envelope", serverTimeMilliseconds: serverTime,
                           mayHaveExecuted: HTTPStatusRules.mayHaveExecutedWithoutEnvelope(reply.status))
                .hinted(by: reply).overridden(by: overrides)
        }
        let rule = code == 0 ? CodeRule(.ok) : Self.codes[code] ?? CodeRule(.permanent)
        return Outcome(rule.classification, code: String(code), message: envelope.text("msg"),
                       data: envelope.json("data"), retryAfterMilliseconds: rule.retryAfterMilliseconds,
                       serverTimeMilliseconds: serverTime, mayHaveExecuted: rule.ambiguous).hinted(by: reply).overridden(by: overrides)
    }
}
