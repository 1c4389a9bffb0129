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

    /// Runs the script with `system(3)`, what it prints going to a file: the server it starts inherits the
    /// script's descriptors (a pipe held open by it would never reach its end), and Foundation's `Process` did
    /// not see the script end while the server it left behind ran on.
    private static func cluster(_ command: String, _ dir: TempDir) throws -> String {
        let output = dir.url.appendingPathComponent("pg-cluster.out").path
        let script = repositoryRoot.appendingPathComponent("scripts/pg-cluster.sh").path
        let status = system("bash '\(script)' \(command) '\(dir.url.path)' >'\(output)' 2>&1 </dev/null")
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else {
            struct Failed: Error, CustomStringConvertible { let description: String }
            throw Failed(description: "pg-cluster.sh \(command): \(printed)")
        }
        return printed
    }
}
