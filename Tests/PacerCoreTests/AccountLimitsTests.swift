import PacerCore
import Testing

/// An account's pools as `--limit` values give them, and which pools a call draws from (docs/pools.md).
@Suite struct AccountLimitsTests {
    @Test(arguments: [
        // (values, the pools as text, has a default pool)
        (["10/1s"], "10/1s", true),
        (["100/20s", "10/1s"], "10/1s;100/20s", true), // windows are kept shortest first
        (["spot=40/3s", "futures=20/3s"], "futures=20/3s;spot=40/3s", false),
        (["spot=40/3s", "spot=200/30s", "5/1s"], "5/1s;spot=40/3s;spot=200/30s", true),
    ])
    func limitsParse(values: [String], text: String, hasDefault: Bool) throws {
        let limits = try AccountLimits(parsing: values)
        #expect(limits.text == text)
        #expect((limits.defaultPool != nil) == hasDefault)
        // The stored text reads back as the same limits.
        #expect(try AccountLimits(parsing: text.split(separator: ";").map(String.init)) == limits)
    }

    @Test(arguments: [
        (["10"], "'10': expected COUNT/WINDOW"),
        (["10/1s", "20/1s"], "one count per window of a pool"),
        (["default=10/1s"], "a pool name"),
        (["my pool=10/1s"], "a pool name"),
        ([String](), "at least one limit"),
    ])
    func badLimitsAreRefused(values: [String], expected: String) {
        #expect(throws: LimitsError.self) { try AccountLimits(parsing: values) }
        do { _ = try AccountLimits(parsing: values) } catch { #expect("\(error)".contains(expected), "\(error)") }
    }

    /// Which pools a call draws from, for each kind of demand, against an account's pools.
    @Test(arguments: [
        // (the account's limits, its shared pools, the demand, the keys drawn, unresolved)
        (["10/1s", "spot=40/3s"], [String](), PoolDemand(names: ["spot"]), ["a/spot"], [String]()),
        (["10/1s", "spot=40/3s"], [], PoolDemand(names: ["management"]), ["a"], []), // no such pool: the default
        (["10/1s"], [], PoolDemand.default, ["a"], []),
        (["10/1s"], ["ip"], PoolDemand.default, ["a", "@ip"], []), // a shared pool is drawn from too
        (["10/1s"], ["ip"], PoolDemand(names: ["public"], ipOnly: true), ["@ip"], []), // per IP: the shared pool alone
        (["10/1s"], [], PoolDemand(names: ["public"], ipOnly: true), ["a"], []), // no shared pool: the default
        // Bit-Z: its interface's own pool and the overall minute, which is the default pool.
        (["5000/1m", "interface=30/1s"], [], PoolDemand(names: ["interface:/Trade/x", ""]), ["a/interface:/Trade/x", "a"], []),
        // Only named pools, and a call for the default: unresolved (enqueue refuses it); a runner draws from all.
        (["spot=40/3s", "futures=20/3s"], [], PoolDemand.default, ["a/futures", "a/spot"], [""]),
    ])
    func callsDrawFromTheirPools(values: [String], shared: [String], demand: PoolDemand, keys: [String],
                                 unresolved: [String]) throws {
        let limits = AccountLimits(pools: try AccountLimits(parsing: values).pools, shared: shared)
        let sharedPools = ["ip": [RateLimit(count: 30, windowMilliseconds: 1_000)]]
        let drawn = limits.draws(account: "a", demand: demand, sharedPools: sharedPools)
        #expect(drawn.draws.map(\.key) == keys)
        #expect(drawn.unresolved == unresolved)
    }

    @Test(arguments: [PoolDemand.default, PoolDemand(names: ["spot"]), PoolDemand(names: ["interface:/Trade/x", ""]),
                      PoolDemand(names: ["public"], ipOnly: true)])
    func aDemandIsStoredAndReadBack(demand: PoolDemand) {
        #expect(PoolDemand(text: demand.text) == demand)
    }
}
