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
            secret = try readSecretFile(file, account: account.name)
        } else if let value = try env(refs.secretEnv, "secret") {
            secret = value
        } else {
            throw CredentialError("account '\(account.name)' has no secret reference")
        }
        return Credentials(key: key, secret: secret, passphrase: try env(refs.passphraseEnv, "passphrase"),
                           partner: refs.partner, brokerName: refs.brokerName,
                           brokerKey: try env(refs.brokerKeyEnv, "broker key"))
    }

    /// Reads a secret file as ssh reads a key: opened once (no swap between the check and the read), a regular file
    /// (a FIFO would block), owned by us, readable by nobody else. Errors name the file and the fix, never its content.
    static func readSecretFile(_ file: String, account: String) throws -> String {
        let fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CredentialError("account '\(account)': cannot read the secret file '\(file)'") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw CredentialError("account '\(account)': the secret file '\(file)' is not a regular file")
        }
        guard info.st_uid == geteuid() || geteuid() == 0 else {
            throw CredentialError("account '\(account)': the secret file '\(file)' belongs to another user")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CredentialError("account '\(account)': the secret file '\(file)' can be read by others "
                                  + "(mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 '\(file)'")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else {
                guard n == 0 else { throw CredentialError("account '\(account)': cannot read the secret file '\(file)'") }
                break
            }
            bytes += buffer[0..<n]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CredentialError("account '\(account)': the secret file '\(file)' is not UTF-8 text")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A secret that cannot be read: names the account and the variable or file, never a value.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ message: String) { description = message }
}
