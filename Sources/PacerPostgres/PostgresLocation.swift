import Foundation
import NIOSSL
import PacerStorage
import PostgresNIO

/// Where the database is and how to reach it, from a libpq-style URL:
/// `postgres://USER@HOST:PORT/DB?sslmode=MODE&sslrootcert=FILE` (`postgresql://` too).
///
/// A password in the URL is refused: it would sit in shell history, `ps` and cron files. As with libpq, it comes
/// from `PGPASSWORD` or from `~/.pgpass` (or `$PGPASSFILE`), which must be private (mode 0600).
/// `sslmode` is libpq's: `disable`, `prefer` (the default, as in libpq), `require` (encrypt, trust any
/// certificate), `verify-ca` and `verify-full` (check the certificate against `sslrootcert`, or the system's
/// roots; `verify-full` also checks the host name).
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var sslMode: String
    public var sslRootCert: String?
    /// Shown in `pg_stat_activity` (libpq's `application_name`; "pacer" by default).
    public var applicationName = "pacer"
    /// Seconds to wait for the server to accept a connection (libpq's `connect_timeout`; 10 by default).
    public var connectTimeoutSeconds = 10
    /// `pooler=transaction`: the URL reaches PostgreSQL through a pooler in transaction mode (PgBouncer), where
    /// consecutive transactions of one connection may run on different server sessions: nothing is kept in a
    /// session (each transaction sets its own limits; no `LISTEN`). See docs/postgres.md.
    public var transactionPooler = false

    /// The URL without anything secret, for messages.
    public var display: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(url text: String) throws(StoreError) {
        guard Self.isURL(text), let url = URLComponents(string: text) else {
            throw StoreError(.database, "not a PostgreSQL URL: expected postgres://USER@HOST:PORT/DB")
        }
        if url.password != nil {
            throw StoreError(.database, "the PostgreSQL URL contains a password; set PGPASSWORD or use ~/.pgpass instead")
        }
        host = url.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = url.port ?? 5432
        user = url.user ?? ProcessInfo.processInfo.environment["PGUSER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        database = path.isEmpty ? user : path
        var mode = "prefer"
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode": mode = item.value ?? mode
            case "sslrootcert": sslRootCert = item.value
            case "application_name": applicationName = item.value ?? applicationName
            case "connect_timeout":
                guard let seconds = item.value.flatMap(Int.init), seconds > 0 else {
                    throw StoreError(.database, "connect_timeout '\(item.value ?? "")': expected a whole number of seconds")
                }
                connectTimeoutSeconds = seconds
            case "pooler":
                guard let value = item.value, ["transaction", "session", "none"].contains(value) else {
                    throw StoreError(.database, "pooler '\(item.value ?? "")': expected transaction (PgBouncer's "
                                     + "transaction mode), session or none")
                }
                transactionPooler = value == "transaction"
            default:
                throw StoreError(.database, "unknown PostgreSQL URL option '\(item.name)' "
                                 + "(known: sslmode, sslrootcert, application_name, connect_timeout, pooler)")
            }
        }
        guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(mode) else {
            throw StoreError(.database, "sslmode '\(mode)': expected disable, prefer, require, verify-ca or verify-full")
        }
        sslMode = mode
    }

    /// postgres-nio's configuration, with the password looked up now.
    func configuration() throws(StoreError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslMode {
            case "disable", "allow":
                tls = .disable
            case "prefer", "require":
                var config = TLSConfiguration.makeClientConfiguration()
                config.certificateVerification = .none
                let context = try NIOSSLContext(configuration: config)
                tls = sslMode == "prefer" ? .prefer(context) : .require(context)
            default: // verify-ca, verify-full
                var config = TLSConfiguration.makeClientConfiguration()
                config.certificateVerification = sslMode == "verify-full" ? .fullVerification : .noHostnameVerification
                if let root = sslRootCert { config.trustRoots = .file(root) }
                tls = .require(try NIOSSLContext(configuration: config))
            }
        } catch {
            throw StoreError(.database, "cannot set up TLS for \(display): \(error)")
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user,
                                                             password: try password(), database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(Int64(connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// `PGPASSWORD`, else the first matching line of the password file, else none (trust or peer auth).
    func password(environment env: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) -> String? {
        if let password = env["PGPASSWORD"] { return password }
        let file = env["PGPASSFILE"] ?? (NSHomeDirectory() + "/.pgpass")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: file),
           let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw StoreError(.database, "password file '\(file)' is readable by others; chmod 600 it (as libpq requires)")
        }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = Self.pgpassFields(String(line))
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A `.pgpass` line's five fields: `:` separates, `\` escapes.
    static func pgpassFields(_ line: String) -> [String] {
        var fields: [String] = [], current = "", escaped = false
        for ch in line {
            if escaped { current.append(ch); escaped = false }
            else if ch == "\\" { escaped = true }
            else if ch == ":" { fields.append(current); current = "" }
            else { current.append(ch) }
        }
        fields.append(current)
        return fields
    }
}

extension PostgresLocation {
    /// The location as a URL again (no password: there never is one).
    public var url: String {
        var text = "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode)"
        if let root = sslRootCert { text += "&sslrootcert=\(root)" }
        if applicationName != "pacer" {
            text += "&application_name=" + (applicationName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "pacer")
        }
        if connectTimeoutSeconds != 10 { text += "&connect_timeout=\(connectTimeoutSeconds)" }
        if transactionPooler { text += "&pooler=transaction" }
        return text
    }
}
