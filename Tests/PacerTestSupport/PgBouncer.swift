import Foundation
import PacerPostgres

/// PgBouncer in transaction mode in front of the test server (`scripts/pgbouncer.sh`), for the tests that run
/// Pacer behind a pooler. Stopped when released.
public final class PgBouncer: @unchecked Sendable {
    public let dir = TempDir()
    /// The pooler's URL without a database (`postgres://USER@127.0.0.1:PORT/`).
    public let url: String

    public init(inFrontOf server: PostgresLocation) throws {
        url = try Self.run("start '\(dir.url.path)' '\(server.url)'", dir).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What PgBouncer logged (connections, errors).
    public var log: String {
        (try? String(contentsOfFile: dir.url.appendingPathComponent("pgbouncer.log").path, encoding: .utf8)) ?? ""
    }

    deinit { _ = try? Self.run("stop '\(dir.url.path)'", dir) }

    /// A location reaching `database` through the pooler.
    public func location(_ database: String) throws -> PostgresLocation {
        var location = try PostgresLocation(url: url + database + "?sslmode=disable")
        location.database = database
        return location
    }

    private static func run(_ arguments: String, _ dir: TempDir) throws -> String {
        try Script.run("pgbouncer.sh", arguments, in: dir)
    }
}
