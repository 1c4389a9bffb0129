import Foundation
import GRDB
import PacerStorage

/// Applies the embedded migrations in order, each recorded in `pacer_migrations`.
///
/// GRDB's `DatabaseMigrator` decides what to apply before it takes the write lock, so two processes opening a new
/// database at once (overlapping cron launches) could both try to create the tables. Here the check and the
/// migrations run in one `BEGIN IMMEDIATE` transaction, so exactly one process applies them and the others see
/// them applied. A database that records a migration this build does not know was written by a newer Pacer and
/// is refused rather than used with a schema we do not understand.
struct SchemaMigrator {
    let migrations: [(name: String, sql: String)]

    func migrate(_ pool: DatabasePool, path: String) throws(StoreError) {
        let known = migrations.map(\.name)
        do {
            // Fast path, read-only: everything applied already (every open after the first).
            let applied = try pool.read { db in try Self.applied(db) }
            try refuseNewer(applied, known: known, path: path)
            if Set(known).isSubset(of: applied) { return }

            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try db.execute(sql: """
                        CREATE TABLE IF NOT EXISTS pacer_migrations (
                            name TEXT PRIMARY KEY NOT NULL,
                            applied_at INTEGER NOT NULL)
                        """)
                    let applied = try Self.applied(db)
                    try refuseNewer(applied, known: known, path: path)
                    for migration in migrations where !applied.contains(migration.name) {
                        try db.execute(sql: migration.sql)
                        try db.execute(sql: "INSERT INTO pacer_migrations (name, applied_at) VALUES (?, ?)",
                                       arguments: [migration.name, Int64(Date().timeIntervalSince1970 * 1000)])
                    }
                    return .commit
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot migrate database '\(path)': \(SQLiteStore.describe(error))")
        }
    }

    static func applied(_ db: Database) throws -> Set<String> {
        guard try db.tableExists("pacer_migrations") else { return [] }
        return Set(try String.fetchAll(db, sql: "SELECT name FROM pacer_migrations"))
    }

    private func refuseNewer(_ applied: Set<String>, known: [String], path: String) throws {
        let unknown = applied.subtracting(known).sorted()
        guard unknown.isEmpty else {
            throw StoreError.newerSchema(database: "'\(path)'", unknown: unknown, known: known)
        }
    }
}
