import Foundation
import PacerCore
import PacerProviders

/// Reads an account's secrets from where its references point, at the moment they are needed. Errors name the
/// variable or file, never a value.
public enum CredentialResolver {
    ///
    /// Variables are looked up one by one (`getenv`), not through `ProcessInfo.environment`, which copies the whole
    /// environment on every call: starting 1,000 accounts' workers in a large environment cost seconds of CPU.
    public static func resolve(_ account: Account,
                               environment: (String) -> String? = { getenv($0).map { String(cString: $0) } })
        throws -> Credentials {
        let refs = account.credentials
        func env(_ name: String?, _ what: String) throws -> String? {
            guard let name else { return nil }
            guard let value = environment(name), !value.isEmpty else {
                throw CredentialError("account '\(account.name)': the \(what) variable $\(name) is not set")
            }
            return value
        }
        guard let key = try refs.key ?? env(refs.keyEnv, "API key") else {
            throw CredentialError("account '\(account.name)' has no API key")
        }
        let secret: String
        if let file = refs.secretFile {
            // As ssh does with keys: a secret others can read is not a secret, and is refused.
            var info = stat()
            if stat(file, &info) == 0, info.st_mode & 0o077 != 0 {
                throw CredentialError("account '\(account.name)': the secret file '\(file)' can be read by others "
                                      + "(mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 '\(file)'")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CredentialError("account '\(account.name)': cannot read the secret file '\(file)'")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let value = try env(refs.secretEnv, "secret") {
            secret = value
        } else {
            throw CredentialError("account '\(account.name)' has no secret reference")
        }
        return Credentials(key: key, secret: secret, passphrase: try env(refs.passphraseEnv, "passphrase"),
                           partner: refs.partner, brokerName: refs.brokerName,
                           brokerKey: try env(refs.brokerKeyEnv, "broker key"))
    }
}

/// A secret that cannot be read: names the account and the variable or file, never a value.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ message: String) { description = message }
}
