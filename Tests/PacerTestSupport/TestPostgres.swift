import Foundation
import PacerPostgres
import PacerStorage
import PacerStorage
import PacerSQLite

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
        try freshDatabase(on: try server())
    }

    /// A new, empty database on the server at `server` (the test server, or one of a test's own).
    public static func freshDatabase(on server: PostgresLocation) throws -> PostgresLocation {
        var location = server
        let name = "pacer_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try PostgresStore.createDatabase(String(name), on: location)
        location.database = String(name)
        return location
    }
}

/// The two stores every store-facing test runs against.
public enum TestDatabase: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// A new, empty store of this kind (SQLite: a new file in `dir`) and what `pacer --db` names it by.
    /// `clock` is the store's time source (`.caller` for suites that drive time with explicit instants; else the
    /// database server's clock, or the host's steady clock for SQLite).
    public func open(in dir: TempDir, clock: PostgresStore.ClockSource = .database) throws -> (store: any PacerStore, db: String) {
        switch self {
        case .sqlite:
            let path = dir.url.appendingPathComponent("\(UUID()).sqlite").path
            return (try SQLiteStore(path: path, clock: clock == .caller ? .caller : .host(.system)), path)
        case .postgres:
            let location = try TestPostgres.freshDatabase()
            return (try PostgresStore(location: location, clock: clock), location.url)
        }
    }
}
