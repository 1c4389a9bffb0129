import Foundation
import PacerPostgres
import PacerStore
import PacerTestSupport

/// The stores the conformance suite runs against, each fresh per test.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    var description: String { rawValue }

    /// The suite over fresh stores of this kind (SQLite files in `dir`).
    func conformance(_ dir: TempDir) -> StoreConformance {
        StoreConformance { try self.make(in: dir) }
    }

    func make(in dir: TempDir) throws -> any PacerStore {
        switch self {
        case .sqlite:
            return try SQLiteStore(path: dir.url.appendingPathComponent("\(UUID()).sqlite").path)
        case .postgres:
            // The suite drives time with explicit instants, so this store takes the caller's clock; the server's
            // clock is what `PostgresClockTests` checks.
            return try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        }
    }
}

/// The test server: `PACER_TEST_POSTGRES` (set by `scripts/with-postgres.sh`), with one new database per store.
enum TestPostgres {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            "PACER_TEST_POSTGRES is not set: run the tests through scripts/with-postgres.sh (README), which starts a "
                + "throwaway PostgreSQL, or point it at a server of yours (postgres://USER@127.0.0.1:PORT/DB)"
        }
    }

    static func server() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["PACER_TEST_POSTGRES"] else { throw NotConfigured() }
        return try PostgresLocation(url: url)
    }

    /// A new, empty database on the test server.
    static func freshDatabase() throws -> PostgresLocation {
        var location = try server()
        let name = "pacer_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try PostgresStore.createDatabase(String(name), on: location)
        location.database = String(name)
        return location
    }
}
