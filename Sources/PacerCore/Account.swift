/// A provider account as Pacer stores it. Secrets are held only by reference (an environment variable's name or a
/// file's path) and read at send time, so nothing secret is ever written to the database.
public struct Account: Sendable, Equatable {
    public var name: String
    public var provider: Provider
    public var baseURL: String
    /// Its pools and their windows, and the shared pools it draws from (docs/pools.md).
    public var limits: AccountLimits
    public var credentials: CredentialReferences
    /// Why the account is paused (an auth error, say), or `nil` when it is not.
    public var pausedReason: String?

    public init(name: String, provider: Provider, baseURL: String, limits: AccountLimits,
                credentials: CredentialReferences = .init(), pausedReason: String? = nil) {
        self.name = name
        self.provider = provider
        self.baseURL = baseURL
        self.limits = limits
        self.credentials = credentials
        self.pausedReason = pausedReason
    }

    /// An account with one limit, on its default pool.
    public init(name: String, provider: Provider, baseURL: String, limit: RateLimit,
                credentials: CredentialReferences = .init(), pausedReason: String? = nil) {
        self.init(name: name, provider: provider, baseURL: baseURL, limits: AccountLimits(limit),
                  credentials: credentials, pausedReason: pausedReason)
    }

    /// The limit shown where one is (`AccountLimits.primary`); setting it leaves the account one default pool.
    public var limit: RateLimit {
        get { limits.primary }
        set { limits = AccountLimits(newValue) }
    }

    /// Account names appear in job files, URLs of the emulator and log lines: keep them to a safe alphabet.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
        }
    }
}

/// Where an account's credentials come from. The API key is an identifier, not a secret, so it may be stored as a
/// value; the secret, passphrase and broker key may only be named.
public struct CredentialReferences: Sendable, Equatable {
    public var key: String?
    public var keyEnv: String?
    public var secretEnv: String?
    public var secretFile: String?
    public var passphraseEnv: String?
    public var partner: String?
    public var brokerName: String?
    public var brokerKeyEnv: String?

    public init(key: String? = nil, keyEnv: String? = nil, secretEnv: String? = nil, secretFile: String? = nil,
                passphraseEnv: String? = nil, partner: String? = nil, brokerName: String? = nil,
                brokerKeyEnv: String? = nil) {
        self.key = key
        self.keyEnv = keyEnv
        self.secretEnv = secretEnv
        self.secretFile = secretFile
        self.passphraseEnv = passphraseEnv
        self.partner = partner
        self.brokerName = brokerName
        self.brokerKeyEnv = brokerKeyEnv
    }
}
