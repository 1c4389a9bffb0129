import Foundation
import GRDBSQLite
import PacerQueue
import PacerCore
import PacerStorage
import PacerSQLite

/// `pacer enqueue` of a job fanned out over a text items file, next to a raw batched SQLite insert of the same
/// rows into the same schema, in the same process and run. Pacer's pass runs first so that the peak RSS the
/// kernel reports (the process's high-water mark) is Pacer's own.
struct EnqueueBenchmark {
    let calls: Int

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pacer-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let job = try writeJob(in: dir)
        let rssBefore = peakRSSMegabytes()

        // Pacer: parse, validate, stream the file, render every call, insert in one transaction.
        let pacerDB = dir.appendingPathComponent("pacer.sqlite").path
        let store = try SQLiteStore(path: pacerDB)
        try store.addAccount(Account(name: "bench", provider: .kucoin, baseURL: "http://127.0.0.1:9",
                                     limit: RateLimit(count: 4000, windowMilliseconds: 30_000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S", passphraseEnv: "P")),
                             replace: false, nowMilliseconds: 0)
        let t0 = Date()
        let runs = try Enqueuer(store: store, nowMilliseconds: { 0 }).enqueue(files: [job.path])
        let pacerSeconds = Date().timeIntervalSince(t0)
        let pacerRSS = peakRSSMegabytes()
        precondition(runs.first?.calls == calls, "enqueued \(runs.first?.calls ?? 0) calls, expected \(calls)")

        // Raw: the same rows, pre-rendered, through one prepared statement in one transaction.
        let rawDB = dir.appendingPathComponent("raw.sqlite").path
        _ = try SQLiteStore(path: rawDB) // same schema, indexes and pragmas
        let rawSeconds = try rawInsert(path: rawDB)

        let pacerRate = Double(calls) / pacerSeconds
        let rawRate = Double(calls) / rawSeconds
        print("enqueue benchmark: \(calls) calls from a text items file")
        print(String(format: "  pacer enqueue : %7.2f s  %10.0f calls/s  peak RSS %6.1f MB (%.1f MB before)",
                     pacerSeconds, pacerRate, pacerRSS, rssBefore))
        print(String(format: "  raw SQLite    : %7.2f s  %10.0f rows/s", rawSeconds, rawRate))
        print(String(format: "  ratio pacer/raw rate: %.2f   (targets: pacer <= 10 s, ratio >= 0.50, RSS <= 64 MB)",
                     pacerRate / rawRate))
    }

    /// A KuCoin-like 24-character order id.
    static func orderID(_ i: Int) -> String {
        let digits = String(i)
        return "6423" + String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// The job (cancel one KuCoin order per line of `orders.txt`, `calls` lines) and its items file, in `dir`.
    func writeJob(in dir: URL) throws -> URL {
        try writeItems(to: dir.appendingPathComponent("orders.txt"))
        let job = dir.appendingPathComponent("cancel.yaml")
        try """
            name: bench-cancel
            account: bench
            request:
              method: DELETE
              path: /api/v1/orders/{{item}}
              params:
                symbol: BTC-USDT
            items:
              file: orders.txt
            """.write(to: job, atomically: true, encoding: .utf8)
        return job
    }

    private func writeItems(to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw BenchError("cannot create \(url.path)") }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var chunk = ""
        for i in 0..<calls {
            chunk += Self.orderID(i) + "\n"
            if chunk.utf8.count > 1 << 20 { handle.write(Data(chunk.utf8)); chunk = "" }
        }
        handle.write(Data(chunk.utf8))
    }

    private func rawInsert(path: String) throws -> TimeInterval {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("cannot open \(path)") }
        defer { sqlite3_close(db) }
        func exec(_ sql: String) throws {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
                throw BenchError(String(cString: sqlite3_errmsg(db)))
            }
        }
        try exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        try exec("INSERT INTO accounts (name, provider, base_url, limit_count, limit_window_ms, created_at) "
                 + "VALUES ('bench', 'kucoin', 'http://127.0.0.1:9', 4000, 30000, 0)")
        try exec("INSERT INTO runs (id, job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms, created_at) "
                 + "VALUES (1, 'bench-cancel', 'bench', 'x', 5, 1000, 300000, 0)")
        // Pre-rendered rows, bound into multi-row INSERTs of the same size Pacer uses: the same batching, none of
        // Pacer's work (reading and parsing the items, templating, JSON, GRDB).
        let params = #"{"symbol":"BTC-USDT"}"#
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        let batch = 64
        func prepare(_ rows: Int) throws -> OpaquePointer? {
            var stmt: OpaquePointer?
            let values = Array(repeating: "(1, ?, 'bench', 'DELETE', ?, ?, NULL, 1, 1)", count: rows).joined(separator: ", ")
            guard sqlite3_prepare_v2(db, "INSERT INTO calls (run_id, seq, account, method, path, params, body, weight, "
                                         + "idempotent) VALUES " + values, -1, &stmt, nil) == SQLITE_OK
            else { throw BenchError(String(cString: sqlite3_errmsg(db))) }
            return stmt
        }
        let paths = (0..<calls).map { "/api/v1/orders/" + Self.orderID($0) }
        let t0 = Date()
        try exec("BEGIN IMMEDIATE")
        let full = try prepare(batch)
        defer { sqlite3_finalize(full) }
        var start = 0
        while start < calls {
            let rows = min(batch, calls - start)
            let stmt = rows == batch ? full : try prepare(rows)
            for r in 0..<rows {
                let base = Int32(r * 3)
                sqlite3_bind_int64(stmt, base + 1, Int64(start + r))
                sqlite3_bind_text(stmt, base + 2, paths[start + r], -1, transient)
                sqlite3_bind_text(stmt, base + 3, params, -1, transient)
            }
            guard sqlite3_step(stmt) == SQLITE_DONE else { throw BenchError(String(cString: sqlite3_errmsg(db))) }
            if rows == batch { sqlite3_reset(stmt) } else { sqlite3_finalize(stmt) }
            start += rows
        }
        try exec("COMMIT")
        return Date().timeIntervalSince(t0)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The process's peak resident set size so far (Linux reports `ru_maxrss` in kilobytes).
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
