import Foundation
import PacerStorage
import PostgresNIO

/// Applies the embedded PostgreSQL migrations in order, each recorded in `pacer_migrations`.
///
/// Several processes on several machines may start at once against a new database: the check and the migrations
/// run in one transaction under a transaction-scoped advisory lock (PostgreSQL's DDL is transactional), so exactly
/// one of them applies the migrations and the others wait, then find them applied. A database that records a
/// migration this build does not know was written by a newer Pacer and is refused.
struct PostgresMigrator {
    let migrations: [(name: String, sql: String)]
    /// An arbitrary constant: the advisory lock that serialises migrations ("pacer" in ASCII).
    static let lockKey: Int64 = 0x7061_6365_72

    func migrate(_ store: PostgresStore) throws(StoreError) {
        let known = migrations.map(\.name)
        // Nothing to apply, the usual case, is found out under the reply deadline: a silent server at start is an
        // error, not a hang. Only applying migrations may take as long as it takes.
        do {
            let applied = try store.transaction { tx in
                try tx.rows("SELECT name FROM pacer_migrations").map { try $0.get("name", as: String.self) }
            }
            if Set(applied) == Set(known) { return }
        } catch let error as StoreError where error.message.hasPrefix("no answer") {
            throw error
        } catch {
            // A new database (no table yet): the migrations below make it.
        }
        try store.typed { try store.transaction(deadline: false) { tx in
            // A migration (an index build, a table rewrite) takes as long as it takes, and a process starting
            // meanwhile waits for it rather than fail.
            try tx.execute("SET LOCAL lock_timeout = 0")
            try tx.execute("SET LOCAL statement_timeout = 0")
            try tx.execute("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
            try tx.execute("""
                CREATE TABLE IF NOT EXISTS pacer_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                """)
            let applied = Set(try tx.rows("SELECT name FROM pacer_migrations").map { try $0.get("name", as: String.self) })
            let unknown = applied.subtracting(known).sorted()
            guard unknown.isEmpty else {
                throw StoreError.newerSchema(database: store.location.display, unknown: unknown, known: known)
            }
            for migration in migrations where !applied.contains(migration.name) {
                try tx.executeScript(migration.sql)
                try tx.execute("""
                    INSERT INTO pacer_migrations (name, applied_at) VALUES (\(migration.name), \(unescaped: PostgresStore.serverNowSQL))
                    """)
            }
        } }
    }
}
