import Foundation
import PacerPostgres

/// A PostgreSQL server of a test's own (`scripts/pg-cluster.sh`), for tests that stop or restart it: the shared
/// test server must stay up for every other test. Stopped when released.
public final class PrivatePostgres: @unchecked Sendable {
    public let dir = TempDir()
    public let url: String

    public init() throws {
        url = try Self.cluster("start", dir).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit { _ = try? Self.cluster("stop", dir) }

    /// A new, empty database on this server.
    public func freshDatabase() throws -> PostgresLocation {
        try TestPostgres.freshDatabase(on: try PostgresLocation(url: url))
    }

    /// `pg_ctl restart`: every session is ended, and the server is back (waited for) when this returns.
    public func restart() throws { _ = try Self.cluster("restart", dir) }

    private static func cluster(_ command: String, _ dir: TempDir) throws -> String {
        try Script.run("pg-cluster.sh", "\(command) '\(dir.url.path)'", in: dir)
    }
}
