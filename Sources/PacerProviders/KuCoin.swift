import PacerCore

/// KuCoin spot/futures, with broker (partner) attribution.
///
/// `KC-API-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body))`. For GET and DELETE
/// the query is signed **un-percent-encoded**, in the order sent (the server checks the decoded form) and the
/// body is empty; for POST and PUT the compact JSON body is signed byte for byte as sent. Key version 2 sends
/// the passphrase as `base64(HMAC-SHA256(secret, passphrase))`. A broker adds
/// `KC-API-PARTNER-SIGN = base64(HMAC-SHA256(broker_key, timestamp + partner + apiKey))`.
public struct KuCoin: ProviderAPI {
    public init() {}
    public var provider: Provider { .kucoin }
    public var nonceLength: Int? { nil }

    /// VIP0's pools per 30 s: spot 4000 (the default pool: endpoints the table does not list draw from it),
    /// futures 2000, management 2000. Public endpoints are metered per IP (2000 per 30 s): a shared pool the user
    /// adds (`pacer pool add`), since one address serves several accounts.
    public var documentedLimits: AccountLimits {
        let thirty: Int64 = 30_000
        return AccountLimits(pools: [
            .init(name: "", windows: [RateLimit(count: 4000, windowMilliseconds: thirty)]),
            .init(name: "futures", windows: [RateLimit(count: 2000, windowMilliseconds: thirty)]),
            .init(name: "management", windows: [RateLimit(count: 2000, windowMilliseconds: thirty)]),
        ])
    }

    /// The futures API's host: the same paths as spot, metered in the futures pool.
    public static let futuresHost = "api-futures.kucoin.com"

    /// KuCoin's documented weights (VIP0). Spot endpoints name the `spot` pool, which an account without one
    /// draws from its default pool.
    public var endpoints: EndpointTable {
        let futures = Self.futuresHost
        return EndpointTable([
            // Futures: its own host, paths that look like spot's.
            .init(.post, "/api/v1/orders", host: futures, .pool("futures", weight: 2)),
            .init(.delete, "/api/v1/orders/{orderId}", host: futures, .pool("futures", weight: 1)),
            .init(.delete, "/api/v1/orders", host: futures, .pool("futures", weight: 30)),
            .init(.get, "/api/v1/orders", host: futures, .pool("futures", weight: 2)),
            .init(nil, "/api/v1/timestamp", host: futures, .publicIP("public", weight: 2)),
            .init(nil, "/api/v1/{any}", host: futures, .pool("futures", weight: 2)),
            // Spot, high-frequency orders.
            .init(.post, "/api/v1/hf/orders", .pool("spot", weight: 1)),
            .init(.delete, "/api/v1/hf/orders/cancelAll", .pool("spot", weight: 30)),
            .init(.delete, "/api/v1/hf/orders/{orderId}", .pool("spot", weight: 1)),
            .init(.delete, "/api/v1/hf/orders", .pool("spot", weight: 2)), // cancel all by symbol
            .init(.get, "/api/v1/hf/orders/active", .pool("spot", weight: 2)),
            .init(.get, "/api/v1/hf/orders/{orderId}", .pool("spot", weight: 2)),
            // Spot, classic orders.
            .init(.post, "/api/v1/orders", .pool("spot", weight: 2)),
            .init(.delete, "/api/v1/orders/{orderId}", .pool("spot", weight: 3)),
            .init(.delete, "/api/v1/orders", .pool("spot", weight: 20)),
            .init(.get, "/api/v1/orders", .pool("spot", weight: 2)),
            .init(.get, "/api/v1/orders/{orderId}", .pool("spot", weight: 2)),
            .init(.get, "/api/v1/fills", .pool("spot", weight: 10)),
            // Account management.
            .init(.get, "/api/v1/accounts", .pool("management", weight: 5)),
            .init(.get, "/api/v1/accounts/{accountId}", .pool("management", weight: 5)),
            .init(.get, "/api/v1/sub-accounts", .pool("management", weight: 20)),
            .init(.get, "/api/v1/deposit-addresses", .pool("management", weight: 5)),
            .init(.post, "/api/v1/deposit-addresses", .pool("management", weight: 20)),
            .init(.get, "/api/v1/withdrawals", .pool("management", weight: 20)),
            // Public market data: per IP.
            .init(.get, "/api/v1/timestamp", .publicIP("public", weight: 3)),
            .init(.get, "/api/v1/symbols", .publicIP("public", weight: 4)),
            .init(.get, "/api/v1/market/orderbook/level1", .publicIP("public", weight: 2)),
            .init(.get, "/api/v1/market/allTickers", .publicIP("public", weight: 15)),
            .init(.get, "/api/v1/currencies", .publicIP("public", weight: 3)),
        ], fallback: .pool("spot", weight: 1))
    }

    public func sign(_ request: APIRequest, baseURL: String, credentials: Credentials,
                     inputs: SigningInputs) -> SignedRequest {
        let ts = String(inputs.nowMilliseconds)
        let method = request.method.rawValue
        let usesBody = request.method == .post || request.method == .put
        let pairs = usesBody ? [] : request.textParams
        let rawQuery = pairs.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let body = usesBody ? request.jsonBody : nil
        let signedPath = request.path + (rawQuery.isEmpty ? "" : "?" + rawQuery)
        let c = credentials
        var headers: [SignedRequest.Header] = [
            .init("KC-API-KEY", c.key),
            .init("KC-API-SIGN", Self.sign(ts + method + signedPath + (body ?? ""), secret: c.secret)),
            .init("KC-API-TIMESTAMP", ts),
            .init("KC-API-PASSPHRASE", Self.sign(c.passphrase ?? "", secret: c.secret)),
            .init("KC-API-KEY-VERSION", "2"),
            .init("Content-Type", "application/json"),
        ]
        if let partner = c.partner, let brokerName = c.brokerName, let brokerKey = c.brokerKey {
            headers += [
                .init("KC-API-PARTNER", partner),
                .init("KC-BROKER-NAME", brokerName),
                .init("KC-API-PARTNER-VERIFY", "true"),
                .init("KC-API-PARTNER-SIGN", Self.sign(ts + partner + c.key, secret: brokerKey)),
            ]
        }
        return SignedRequest(method: request.method,
                             url: Wire.url(base: baseURL, path: request.path, query: Wire.query(pairs)),
                             headers: headers, body: body)
    }

    /// `base64(HMAC-SHA256(secret, message))`: the signature, the passphrase and the partner signature alike.
    public static func sign(_ message: String, secret: String) -> String {
        Wire.base64(Wire.hmacSHA256(key: secret, message))
    }

    /// The unsigned server-time endpoint, used to correct the clock offset after a 400002.
    public static let serverTimePath = "/api/v1/timestamp"

    /// `pacer account test`: one page of active orders.
    public var accountCheck: APIRequest {
        APIRequest(method: .get, path: "/api/v1/orders", params: [.init("status", .string("active")),
                                                                  .init("pageSize", .string("10"))])
    }

    public func refusedPart(code: String) -> AccountPart? {
        switch code {
        case "400001", "400003", "400007": return .key
        case "400002": return .clock
        case "400004": return .passphrase
        case "400005": return .secret
        case "400006": return .address
        case "400200", "400201", "400202": return .broker
        case "411100": return .account
        default: return nil
        }
    }

    /// The code table (docs/providers.md).
    static let codes: [String: CodeRule] = [
        "429000": CodeRule(.rateLimited),
        "400002": CodeRule(.clock(escalatesToAuth: false)),
        "400001": CodeRule(.auth), "400003": CodeRule(.auth), "400004": CodeRule(.auth), "400005": CodeRule(.auth),
        "400006": CodeRule(.auth), "400007": CodeRule(.auth),
        "400200": CodeRule(.auth), "400201": CodeRule(.auth), "400202": CodeRule(.auth), "411100": CodeRule(.auth),
        "400100": CodeRule(.permanent), "415000": CodeRule(.permanent), "900001": CodeRule(.permanent),
        "200004": CodeRule(.permanent),
        "500000": CodeRule(.transient, ambiguous: true), // internal error: may have happened after the order was placed
    ]

    public func interpret(_ reply: HTTPReply, overrides: [String: Classification]) -> Outcome {
        let serverTime = reply.header("Date").flatMap(HTTPDate.milliseconds)
        // gw-ratelimit-reset: milliseconds until the account's window resets.
        let reset = reply.header("gw-ratelimit-reset").flatMap { Int64($0) }.map(HintBounds.clamp)
        let envelope = Envelope.parse(reply.body)
        let code = envelope?.text("code")
        let rule: CodeRule
        if reply.status == 429 || code == "429000" {
            rule = CodeRule(.rateLimited)
        } else if let code, code == "200000", reply.status == 200 {
            rule = CodeRule(.ok)
        } else if let code, let known = Self.codes[code] {
            rule = known
        } else if code == nil {
            // No envelope (a proxy's page, a body cut short): a success status proves the request got through,
            // not what came of it.
            let byStatus = HTTPStatusRules.classify(reply.status)
            rule = CodeRule(byStatus == .ok ? .transient : byStatus,
                            ambiguous: HTTPStatusRules.mayHaveExecutedWithoutEnvelope(reply.status))
        } else {
            let byStatus = HTTPStatusRules.classify(reply.status)
            rule = CodeRule(byStatus == .ok ? .permanent : byStatus, // 200 with an unknown code is a refusal
                            ambiguous: HTTPStatusRules.mayHaveExecuted(reply.status))
        }
        return Outcome(rule.classification, code: code ?? (reply.status == 200 ? nil : String(reply.status)),
                       message: envelope?.text("msg"), data: envelope?.json("data"),
                       retryAfterMilliseconds: rule.classification == .rateLimited ? reset : rule.retryAfterMilliseconds,
                       serverTimeMilliseconds: serverTime, mayHaveExecuted: rule.ambiguous, quota: Self.quota(reply))
            .hinted(by: reply).overridden(by: overrides)
    }

    /// `gw-ratelimit-limit`, `gw-ratelimit-remaining`, `gw-ratelimit-reset` (ms until the window resets), sent
    /// with every answer: the account's pool as KuCoin counts it.
    static func quota(_ reply: HTTPReply) -> ProviderQuota? {
        let limit = reply.header("gw-ratelimit-limit").flatMap { Int($0) }
        let remaining = reply.header("gw-ratelimit-remaining").flatMap { Int($0) }
        let reset = reply.header("gw-ratelimit-reset").flatMap { Int64($0) }.map(HintBounds.clamp)
        guard limit != nil || remaining != nil else { return nil }
        return ProviderQuota(limit: limit, remaining: remaining, resetMilliseconds: reset)
    }

    /// A cancel (`DELETE .../orders/{id}`) answered 400100 "order_not_exist_or_not_allow_to_cancel": the order is
    /// gone, possibly cancelled by an earlier try whose answer was lost.
    public func isAlreadyDone(_ outcome: Outcome, request: APIRequest) -> Bool {
        guard request.method == .delete, outcome.code == "400100", let message = outcome.message?.lowercased() else { return false }
        return message.contains("not_exist") || message.contains("not exist") || message.contains("not_allow_to_cancel")
    }

    // MARK: Dedupe: `clientOid` on order placement.

    /// Placing an order (classic, high-frequency and margin) deduplicates on `clientOid`.
    static let placeOrderPaths: Set<String> = ["/api/v1/orders", "/api/v1/hf/orders", "/api/v1/hf/orders/sync",
                                               "/api/v1/margin/order"]

    public func dedupeField(method: HTTPMethod, path: String) -> String? {
        method == .post && Self.placeOrderPaths.contains(path) ? "clientOid" : nil
    }

    /// 400100 is KuCoin's generic parameter error (also "order does not exist" on a cancel): only its
    /// "clientOid duplicated" message means the key was used.
    public func isDuplicateKey(_ outcome: Outcome) -> Bool {
        guard outcome.code == "400100", let message = outcome.message?.lowercased() else { return false }
        return message.contains("clientoid") && message.contains("duplicat")
    }

    /// `GET /api/v1/order/client-order/{clientOid}`; high-frequency orders are looked up under their own path,
    /// which also wants the symbol.
    public func lookup(_ request: APIRequest, key: String) -> APIRequest? {
        guard dedupeField(method: request.method, path: request.path) != nil else { return nil }
        if request.path.hasPrefix("/api/v1/hf/") {
            let symbol = (try? JSONValue(parsing: request.jsonBody))?["symbol"]?.plainText ?? ""
            return APIRequest(method: .get, path: "/api/v1/hf/orders/client-order/\(key)", params: [.init("symbol", .string(symbol))])
        }
        return APIRequest(method: .get, path: "/api/v1/order/client-order/\(key)")
    }

    /// The server's time from `GET /api/v1/timestamp` (`data` is epoch milliseconds).
    public var serverTimeEndpoint: String? { Self.serverTimePath }
    public func serverTime(in reply: HTTPReply) -> Int64? { Self.serverTime(from: reply) }
    public var needsPassphrase: Bool { true }
    public var takesBrokerAttribution: Bool { true }

    public static func serverTime(from reply: HTTPReply) -> Int64? {
        Envelope.parse(reply.body)?.text("data").flatMap { Int64($0) }
    }
}
