import Foundation
import PacerPostgres
import PacerStore

/// The test server: `PACER_TEST_POSTGRES` (set by `scripts/with-postgres.sh`), with one new database per store.
public enum TestPostgres {
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "PACER_TEST_POSTGRES is not set: run the tests through scripts/with-postgres.sh (README), which starts a "
                + "throwaway PostgreSQL, or point it at a server of yours (postgres://USER@127.0.0.1:PORT/DB)"
        }
    }

    public static func server() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["PACER_TEST_POSTGRES"] else { throw NotConfigured() }
        return try PostgresLocation(url: url)
    }

    /// A new, empty database on the test server.
    public static func freshDatabase() throws -> PostgresLocation {
        var location = try server()
        let name = "pacer_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try PostgresStore.createDatabase(String(name), on: location)
        location.database = String(name)
        return location
    }
}
