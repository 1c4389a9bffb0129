import Foundation
import PacerCore

/// What the emulator serves: accounts (credentials and limits) and the faults to inject. Loaded from JSON by
/// `pacer sandbox --config FILE`; `EmulatorConfig.demo` is the default, matching `pacer demo`'s accounts.
public struct EmulatorConfig: Codable, Sendable {
    public var accounts: [AccountConfig]
    public var faults: FaultSettings
    /// Pools several accounts share (an egress IP's limit, a provider-wide quota).
    public var sharedPools: [PoolConfig]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        accounts = try c.decode([AccountConfig].self, forKey: .accounts)
        faults = try c.decodeIfPresent(FaultSettings.self, forKey: .faults) ?? FaultSettings()
        sharedPools = try c.decodeIfPresent([PoolConfig].self, forKey: .sharedPools) ?? []
    }

    public init(accounts: [AccountConfig], faults: FaultSettings = .init(), sharedPools: [PoolConfig] = []) {
        self.accounts = accounts
        self.faults = faults
        self.sharedPools = sharedPools
    }

    public struct AccountConfig: Codable, Sendable {
        public var provider: Provider
        /// The key that identifies the account (Kookeey's accessid, KuCoin's KC-API-KEY, ...).
        public var key: String
        public var secret: String
        public var passphrase: String?
        public var partner: String?
        public var brokerKey: String?
        /// `COUNT/WINDOW`, enforced as a strict sliding window.
        public var limit: String
        /// Every answer for this account takes this long (a slow account, for fairness tests).
        public var latencyMilliseconds: Int?
        /// Another client sharing this account's quota: it spends this many requests of every window, evenly.
        public var otherClientPerWindow: Int?
        /// An IP whitelist: requests from other addresses are refused with the provider's code (KuCoin 400006,
        /// Bitunix 10004, Bit-Z -111; Kookeey publishes none and is not checked).
        public var allowedAddresses: [String]?
        /// Faults for this account alone, drawn from a generator of its own (instead of the emulator's `faults`).
        public var faults: FaultSettings?
        /// The account's pools beside `limit` (each request draws from every pool whose prefixes match it).
        public var pools: [PoolConfig]?

        public init(provider: Provider, key: String, secret: String, passphrase: String? = nil,
                    partner: String? = nil, brokerKey: String? = nil, limit: String, latencyMilliseconds: Int? = nil,
                    otherClientPerWindow: Int? = nil, allowedAddresses: [String]? = nil, faults: FaultSettings? = nil,
                    pools: [PoolConfig]? = nil) {
            self.pools = pools
            self.allowedAddresses = allowedAddresses
            self.faults = faults
            self.latencyMilliseconds = latencyMilliseconds
            self.otherClientPerWindow = otherClientPerWindow
            self.provider = provider
            self.key = key
            self.secret = secret
            self.passphrase = passphrase
            self.partner = partner
            self.brokerKey = brokerKey
            self.limit = limit
        }
    }

    /// The demo accounts' secrets: not secret at all, they exist only to sign requests to the local emulator.
    public static let demoSecrets: [Provider: String] = [
        .kookeey: "demo-kookeey-token", .kucoin: "demo-kucoin-secret", .bitunix: "demo-bitunix-secret",
        .bitz: "demo-bitz-secret",
    ]
    public static let demoPassphrase = "demo-kucoin-passphrase"

    /// One account per provider, keys `demo-<provider>-key`, at the providers' published limits.
    public static var demo: EmulatorConfig {
        EmulatorConfig(accounts: [
            AccountConfig(provider: .kookeey, key: "demo-kookeey-key", secret: demoSecrets[.kookeey]!, limit: "10/1s"),
            AccountConfig(provider: .kucoin, key: "demo-kucoin-key", secret: demoSecrets[.kucoin]!,
                          passphrase: demoPassphrase, limit: "4000/30s"),
            AccountConfig(provider: .bitunix, key: "demo-bitunix-key", secret: demoSecrets[.bitunix]!, limit: "10/1s"),
            AccountConfig(provider: .bitz, key: "demo-bitz-key", secret: demoSecrets[.bitz]!, limit: "30/1s"),
        ])
    }

    public static func load(path: String) throws -> EmulatorConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(EmulatorConfig.self, from: data)
    }
}

/// Probabilities (0...1) of each injected fault, drawn per accepted request from a seeded generator.
public struct FaultSettings: Codable, Sendable, Equatable {
    public var seed: UInt64 = 1
    /// Answer with the provider's rate-limit code although the window had room.
    public var rateLimit: Double = 0
    /// Answer with the provider's clock/timestamp error.
    public var clock: Double = 0
    public var serverError: Double = 0   // HTTP 500
    public var unavailable: Double = 0   // HTTP 503
    /// Close the connection without doing anything.
    public var drop: Double = 0
    /// Do the action, then close the connection: the client cannot know it happened.
    public var lostResponse: Double = 0
    /// Do the action, then answer 504 as a gateway whose upstream was too slow: the client sees a failure.
    public var gatewayTimeout: Double = 0
    /// Answer after `slowMilliseconds`.
    public var slow: Double = 0
    public var slowMilliseconds: Int = 200
    /// A slow request path: the request *reaches* the emulator `delayInMilliseconds` after it left, and is counted
    /// against the window on arrival, as a provider behind a congested path counts it.
    public var delayIn: Double = 0
    public var delayInMilliseconds: Int = 1_200

    public init() {}

    /// Every field is optional in a config file; what is left out keeps its default (no fault).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        rateLimit = try c.decodeIfPresent(Double.self, forKey: .rateLimit) ?? 0
        clock = try c.decodeIfPresent(Double.self, forKey: .clock) ?? 0
        serverError = try c.decodeIfPresent(Double.self, forKey: .serverError) ?? 0
        unavailable = try c.decodeIfPresent(Double.self, forKey: .unavailable) ?? 0
        drop = try c.decodeIfPresent(Double.self, forKey: .drop) ?? 0
        lostResponse = try c.decodeIfPresent(Double.self, forKey: .lostResponse) ?? 0
        gatewayTimeout = try c.decodeIfPresent(Double.self, forKey: .gatewayTimeout) ?? 0
        slow = try c.decodeIfPresent(Double.self, forKey: .slow) ?? 0
        slowMilliseconds = try c.decodeIfPresent(Int.self, forKey: .slowMilliseconds) ?? 200
        delayIn = try c.decodeIfPresent(Double.self, forKey: .delayIn) ?? 0
        delayInMilliseconds = try c.decodeIfPresent(Int.self, forKey: .delayInMilliseconds) ?? 1_200
    }
}
