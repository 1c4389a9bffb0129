import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    public func resultSummary(run: Int64?, slowest: Int, failures: Int) throws -> ResultSummary {
        try pool.read { db in
            let byCode = try Row.fetchAll(db, sql: """
                SELECT c.state, r.code, COUNT(*) AS n FROM calls c LEFT JOIN results r ON r.call_id = c.id
                WHERE (?1 IS NULL OR c.run_id = ?1) GROUP BY c.state, r.code ORDER BY n DESC, c.state
                """, arguments: [run]).map {
                ResultSummary.CodeCount(state: CallState(rawValue: $0["state"]) ?? .queued, code: $0["code"], calls: $0["n"])
            }
            let slow = try Row.fetchAll(db, sql: """
                SELECT a.call_id, c.method, c.path, a.latency_ms, a.classification FROM attempts a
                JOIN calls c ON c.id = a.call_id
                WHERE (?1 IS NULL OR c.run_id = ?1) AND a.latency_ms IS NOT NULL
                ORDER BY a.latency_ms DESC LIMIT ?2
                """, arguments: [run, slowest]).map {
                ResultSummary.SlowTry(call: $0["call_id"], method: $0["method"], path: $0["path"],
                                      latencyMilliseconds: $0["latency_ms"], classification: $0["classification"])
            }
            let failed = "c.state IN ('failed', 'dead', 'uncertain') AND (?1 IS NULL OR c.run_id = ?1)"
            let failureRows = try Row.fetchAll(db, sql: """
                SELECT c.id, c.method, c.path, c.state, r.code, r.error FROM calls c
                LEFT JOIN results r ON r.call_id = c.id WHERE \(failed) ORDER BY c.id LIMIT ?2
                """, arguments: [run, failures]).map {
                ResultSummary.Failure(call: $0["id"], method: $0["method"], path: $0["path"],
                                      state: CallState(rawValue: $0["state"]) ?? .failed, code: $0["code"], error: $0["error"])
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls c WHERE \(failed)", arguments: [run]) ?? 0
            return ResultSummary(byCode: byCode, slowest: slow, failures: failureRows, failureCount: count)
        }
    }
}
