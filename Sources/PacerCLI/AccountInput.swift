import Foundation
import PacerCore
import PacerProviders

/// Checks what `pacer account add` was given before anything is stored.
///
/// Error messages never repeat a value given for an environment variable's name: a user who pastes the secret
/// itself into `--secret-env` must not see it echoed into a terminal log or a cron mail.
struct AccountInput {
    var name: String
    var provider: Provider
    var baseURL: String
    /// Every `--limit` (none: the provider's documented pools) and `--shared` pool.
    var limits: [String]
    var shared: [String] = []
    var credentials: CredentialReferences

    /// - Parameter field: how a field is named in messages: `--limit` on the command line (the default), `limit`
    ///   in an imported file.
    func validated(naming field: (String) -> String = { "--" + $0 }) throws -> Account {
        guard Account.isValidName(name) else {
            throw CLIError("account name '\(name)': expected letters, digits, '-', '_' or '.', at most 64")
        }
        for pool in shared where !AccountLimits.isValidPoolName(pool) {
            throw CLIError("\(field("shared")) '\(pool)': expected a shared pool's name (letters, digits, '-', '_' or '.')")
        }
        let own: AccountLimits
        do { own = limits.isEmpty ? provider.api.documentedLimits : try AccountLimits(parsing: limits) } catch {
            throw CLIError("\(field("limit")) \(error)")
        }
        try Self.checkBaseURL(baseURL, field: field("base-url"))
        let c = credentials
        guard (c.key == nil) != (c.keyEnv == nil) else {
            throw CLIError("give exactly one of \(field("key")) and \(field("key-env"))")
        }
        guard (c.secretEnv == nil) != (c.secretFile == nil) else {
            throw CLIError("give exactly one of \(field("secret-env")) and \(field("secret-file"))")
        }
        for (flag, value) in [("key-env", c.keyEnv), ("secret-env", c.secretEnv),
                              ("passphrase-env", c.passphraseEnv), ("broker-key-env", c.brokerKeyEnv)] {
            if let value, !Self.isEnvironmentName(value) {
                throw CLIError("\(field(flag)): expected the NAME of an environment variable (letters, digits, _), "
                               + "not its value")
            }
        }
        let api = provider.api
        if api.needsPassphrase, c.passphraseEnv == nil {
            throw CLIError("a \(provider.rawValue) account needs \(field("passphrase-env"))")
        }
        if !api.needsPassphrase, c.passphraseEnv != nil {
            throw CLIError("\(field("passphrase-env")) applies to \(Self.providers(where: \.needsPassphrase)) accounts only")
        }
        let broker = [c.partner, c.brokerName, c.brokerKeyEnv].filter { $0 != nil }.count
        if broker != 0 && broker != 3 {
            throw CLIError("broker attribution needs all of \(field("partner")), \(field("broker-name")) and "
                           + "\(field("broker-key-env"))")
        }
        if broker == 3 && !api.takesBrokerAttribution {
            throw CLIError("broker attribution applies to \(Self.providers(where: \.takesBrokerAttribution)) accounts only")
        }
        return Account(name: name, provider: provider, baseURL: Self.trimSlash(baseURL),
                       limits: AccountLimits(pools: own.pools, shared: shared),
                       credentials: c)
    }

    /// `https://` anywhere; `http://` only for loopback hosts (tests and the local emulator). A path prefix is kept.
    static func checkBaseURL(_ text: String, field: String = "--base-url") throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
              url.query == nil, url.fragment == nil
        else {
            throw CLIError("\(field) '\(text)': expected an absolute URL like https://api.example.com[/prefix]")
        }
        switch scheme {
        case "https": return
        case "http" where isLoopback(host): return
        case "http": throw CLIError("\(field) '\(text)': http:// is allowed only for loopback hosts; use https://")
        default: throw CLIError("\(field) '\(text)': expected https://")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
            && h.split(separator: ".").count == 4 && h.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }

    static func isEnvironmentName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy {
            ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }

    /// The providers with a property, by name ("kucoin", "a or b").
    static func providers(where property: (any ProviderAPI) -> Bool) -> String {
        Provider.allCases.filter { property($0.api) }.map(\.rawValue).joined(separator: " or ")
    }

    static func trimSlash(_ s: String) -> String { s.hasSuffix("/") ? String(s.dropLast()) : s }
}
