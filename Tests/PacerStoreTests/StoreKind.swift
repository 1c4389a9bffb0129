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

