import PacerCore

/// Which pools an endpoint draws from and at what weight, as a provider documents it (each provider's file holds
/// its table; docs/pools.md). Paths match segment by segment, `{...}` matching any one segment; a rule may be
/// kept to one host (KuCoin futures share spot's paths on their own host). The first matching rule wins; an
/// endpoint no rule matches costs `fallback`.
public struct EndpointTable: Sendable {
    public struct Rule: Sendable {
        public var method: HTTPMethod?
        public var path: String
        public var host: String?
        public var cost: EndpointCost

        public init(_ method: HTTPMethod?, _ path: String, host: String? = nil, _ cost: EndpointCost) {
            self.method = method
            self.path = path
            self.host = host
            self.cost = cost
        }

        func matches(method: HTTPMethod, segments: [Substring], host: String?) -> Bool {
            if let m = self.method, m != method { return false }
            if let h = self.host, h != host?.lowercased() { return false }
            let pattern = path.split(separator: "/")
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") || $0 == $1 }
        }
    }

    public var rules: [Rule]
    /// What an endpoint without a rule costs (`perEndpoint` pools are kept per path).
    public var fallback: EndpointCost

    public init(_ rules: [Rule], fallback: EndpointCost = EndpointCost()) {
        self.rules = rules
        self.fallback = fallback
    }

    /// The pools this table keeps once per endpoint (Bit-Z's `interface`, Bitunix's `endpoint`).
    public var perEndpointPools: Set<String> { Set(rules.flatMap(\.cost.perEndpoint) + fallback.perEndpoint) }

    /// The cost of `method path` on the account at `baseURL` (its host picks host-bound rules).
    public func cost(method: HTTPMethod, path: String, baseURL: String) -> EndpointCost {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        let host = Self.host(of: baseURL)
        let cost = rules.first { $0.matches(method: method, segments: segments, host: host) }?.cost ?? fallback
        return cost.expanded(path: String(path.prefix { $0 != "?" }))
    }

    /// Whether the cost of `method path` can change with what a variable segment (`variable`, a job's `{{item}}`)
    /// becomes: some rule has a literal segment where the path has a variable one, and could match otherwise. A
    /// job whose path is such must be costed call by call, from the rendered path.
    public func dependsOnVariableSegments(method: HTTPMethod, path: String, baseURL: String,
                                          variable: (Substring) -> Bool) -> Bool {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        guard segments.contains(where: variable) else { return false }
        let host = Self.host(of: baseURL)
        return rules.contains { rule in
            if let m = rule.method, m != method { return false }
            if let h = rule.host, h != host?.lowercased() { return false }
            let pattern = rule.path.split(separator: "/")
            guard pattern.count == segments.count else { return false }
            var literalAtVariable = false
            for (p, s) in zip(pattern, segments) {
                let wildcard = p.hasPrefix("{") && p.hasSuffix("}")
                if variable(s) { literalAtVariable = literalAtVariable || !wildcard } else if !wildcard && p != s { return false }
            }
            return literalAtVariable
        }
    }

    static func host(of url: String) -> String? {
        guard let start = url.range(of: "://") else { return nil }
        let rest = url[start.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        let hostPart = authority.split(separator: "@").last.map(String.init) ?? ""
        if hostPart.hasPrefix("[") { return String(hostPart.prefix { $0 != "]" }.dropFirst()).lowercased() }
        return String(hostPart.prefix { $0 != ":" }).lowercased()
    }
}

/// What one endpoint costs: the pools it draws from and its weight in each.
public struct EndpointCost: Sendable, Equatable {
    /// Pool names (`""` the default pool).
    public var pools: [String]
    /// Pools kept once per endpoint: `interface` becomes `interface:/Trade/cancelEntrustSheet`.
    public var perEndpoint: [String]
    public var weight: Int
    /// Metered per IP address only: drawn from the account's shared pools alone, where it has any.
    public var ipOnly: Bool

    public init(pools: [String] = [""], perEndpoint: [String] = [], weight: Int = 1, ipOnly: Bool = false) {
        self.pools = pools
        self.perEndpoint = perEndpoint
        self.weight = weight
        self.ipOnly = ipOnly
    }

    public static func pool(_ name: String, weight: Int = 1) -> EndpointCost { EndpointCost(pools: [name], weight: weight) }
    public static func publicIP(_ pool: String, weight: Int) -> EndpointCost {
        EndpointCost(pools: [pool], weight: weight, ipOnly: true)
    }

    /// The demand a call of this endpoint stores (per-endpoint pools named after its path).
    public var demand: PoolDemand { PoolDemand(names: perEndpoint + pools, ipOnly: ipOnly) }

    func expanded(path: String) -> EndpointCost {
        var cost = self
        cost.perEndpoint = perEndpoint.map { "\($0):\(path)" }
        return cost
    }
}
