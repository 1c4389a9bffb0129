import PacerCore
import PacerProviders
import Testing

/// Each provider's endpoint table and documented pools against the figures of its documents
/// (../shared/PROVIDERS.md and the seeds), not against the emulator.
@Suite struct EndpointTableTests {
    let thirtySeconds: Int64 = 30_000

    /// KuCoin VIP0: spot 4000, futures 2000, management 2000 per 30 s ("weighted pools per 30 s").
    @Test func kucoinsDocumentedPools() {
        let limits = KuCoin().documentedLimits
        #expect(limits.defaultPool?.windows == [RateLimit(count: 4000, windowMilliseconds: thirtySeconds)])
        #expect(limits.pool(named: "futures")?.windows == [RateLimit(count: 2000, windowMilliseconds: thirtySeconds)])
        #expect(limits.pool(named: "management")?.windows == [RateLimit(count: 2000, windowMilliseconds: thirtySeconds)])
    }

    /// The weights the documents name: cancel-all-by-symbol 2, cancel-all 30 (high-frequency spot orders); the
    /// pools each endpoint belongs to; futures by host; public endpoints per IP.
    @Test(arguments: [
        (HTTPMethod.delete, "/api/v1/hf/orders?symbol=BTC-USDT", "https://api.kucoin.com", ["spot"], 2, false),
        (.delete, "/api/v1/hf/orders/cancelAll", "https://api.kucoin.com", ["spot"], 30, false),
        (.post, "/api/v1/orders", "https://api.kucoin.com", ["spot"], 2, false),
        (.delete, "/api/v1/orders/5bd6e9286d99522a52e458de", "https://api.kucoin.com", ["spot"], 3, false),
        (.get, "/api/v1/accounts", "https://api.kucoin.com", ["management"], 5, false),
        (.post, "/api/v1/orders", "https://api-futures.kucoin.com", ["futures"], 2, false),
        (.get, "/api/v1/timestamp", "https://api.kucoin.com", ["public"], 3, true),
        (.get, "/api/v2/unlisted", "https://api.kucoin.com", ["spot"], 1, false), // not listed: spot at weight 1
    ])
    func kucoinsEndpoints(method: HTTPMethod, path: String, base: String, pools: [String], weight: Int, ipOnly: Bool) {
        let cost = KuCoin().endpoints.cost(method: method, path: path, baseURL: base)
        #expect(cost.pools == pools)
        #expect(cost.weight == weight)
        #expect(cost.ipOnly == ipOnly)
    }

    /// Bit-Z: "30 requests per second per interface per account; 5000 per minute overall".
    @Test func bitzMetersEachInterfaceAndTheMinute() {
        let api = BitZ()
        #expect(api.documentedLimits.defaultPool?.windows == [RateLimit(count: 5000, windowMilliseconds: 60_000)])
        #expect(api.documentedLimits.pool(named: "interface")?.windows == [RateLimit(count: 30, windowMilliseconds: 1_000)])
        let cost = api.endpoints.cost(method: .post, path: "/Trade/cancelAllEntrustSheet", baseURL: "https://apiv2.bitz.com")
        #expect(cost.demand.names == ["interface:/Trade/cancelAllEntrustSheet", ""])
        #expect(cost.weight == 1)
        let drawn = api.documentedLimits.draws(account: "z", demand: cost.demand, sharedPools: [:]).draws
        #expect(drawn.map(\.key) == ["z/interface:/Trade/cancelAllEntrustSheet", "z"])
    }

    /// Bitunix: limits per endpoint and UID; order placement 10 per second.
    @Test func bitunixMetersEachEndpoint() {
        let api = Bitunix()
        #expect(api.documentedLimits.defaultPool == nil)
        #expect(api.documentedLimits.pool(named: "endpoint")?.windows == [RateLimit(count: 10, windowMilliseconds: 1_000)])
        let cost = api.endpoints.cost(method: .post, path: "/api/v1/futures/trade/place_order", baseURL: "https://openapi.bitunix.com")
        let drawn = api.documentedLimits.draws(account: "u", demand: cost.demand, sharedPools: [:])
        #expect(drawn.draws.map(\.key) == ["u/endpoint:/api/v1/futures/trade/place_order"])
        #expect(drawn.unresolved.isEmpty)
    }

    /// Kookeey: "10 qps/s per account", every method alike.
    @Test func kookeeyHasOneLimit() {
        let api = Kookeey()
        #expect(api.documentedLimits == AccountLimits(RateLimit(count: 10, windowMilliseconds: 1_000)))
        #expect(api.endpoints.cost(method: .get, path: "/stock", baseURL: "https://kookeey.com").demand == .default)
    }

    /// A base URL with a path prefix (the emulator's, a proxy's) still matches by host; the path is the
    /// provider-side one.
    @Test func theHostIsReadFromTheBaseURL() {
        let cost = KuCoin().endpoints.cost(method: .post, path: "/api/v1/orders",
                                           baseURL: "https://user@API-FUTURES.kucoin.com:443/prefix")
        #expect(cost.pools == ["futures"])
    }
}
