import PacerTestSupport

extension TestDatabase {
    /// The conformance suite over fresh stores of this kind (SQLite files in `dir`). The suite drives time with
    /// explicit instants, so PostgreSQL takes the caller's clock here; `PostgresStoreTests` checks the server's.
    func conformance(_ dir: TempDir) -> StoreConformance {
        StoreConformance { try self.open(in: dir, clock: .caller).store }
    }
}
