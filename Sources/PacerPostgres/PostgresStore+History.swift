import PacerStorage
import PostgresNIO

/// The limiter's history for the dashboard (see `LimiterHistory.swift`): one statement in, two out.
extension PostgresStore {
    public func addHistory(_ buckets: [HistoryBucket]) throws {
        guard !buckets.isEmpty else { return }
        try transaction { tx in
            try tx.execute("""
                INSERT INTO limiter_history (account, pool, bucket_start, width_ms, sent, refused)
                SELECT * FROM unnest(\(buckets.map(\.account))::text[], \(buckets.map(\.pool))::text[],
                                     \(buckets.map(\.start))::bigint[], \(buckets.map(\.widthMilliseconds))::bigint[],
                                     \(buckets.map { Int64($0.sent) })::bigint[], \(buckets.map { Int64($0.refused) })::bigint[])
                ON CONFLICT (account, pool, bucket_start) DO UPDATE
                SET sent = limiter_history.sent + excluded.sent, refused = limiter_history.refused + excluded.refused
                """)
        }
    }

    public func trimHistory(before: Int64) throws {
        try transaction { tx in
            try tx.execute("DELETE FROM limiter_history WHERE bucket_start < \(before) AND bucket_start + width_ms < \(before)")
            try tx.execute("DELETE FROM cooldown_history WHERE until_at < \(before)")
        }
    }

    public func history(account: String, since: Int64) throws -> AccountHistory {
        try read { tx in
            let buckets = try tx.rows("""
                SELECT pool, bucket_start, width_ms, sent, refused FROM limiter_history
                WHERE account = \(account) AND bucket_start > \(since - historyReachMilliseconds)
                  AND bucket_start + width_ms > \(since) ORDER BY bucket_start
                """).map { row in
                HistoryBucket(account: account, pool: try row.get("pool"), start: try row.get("bucket_start"),
                              widthMilliseconds: try row.get("width_ms"), sent: Int(try row.get("sent", as: Int64.self)),
                              refused: Int(try row.get("refused", as: Int64.self)))
            }
            let coolDowns = try tx.rows("""
                SELECT pool, from_at, until_at FROM cooldown_history
                WHERE account = \(account) AND until_at > \(since) ORDER BY from_at
                """).map { row in
                CoolDownSpan(pool: try row.get("pool"), from: try row.get("from_at"), until: try row.get("until_at"))
            }
            return AccountHistory(buckets: buckets, coolDowns: coolDowns)
        }
    }
}

extension PostgresStore {
    public func runProgress(run: Int64, since: Int64, width: Int64) throws -> [(at: Int64, finished: Int)] {
        let width = max(1, width)
        return try read { tx in
            try tx.rows("""
                SELECT r.finished_at / \(width) * \(width) AS at, COUNT(*) AS n FROM results r JOIN calls c ON c.id = r.call_id
                WHERE c.run_id = \(run) AND r.finished_at >= \(since) GROUP BY 1 ORDER BY 1
                """).map { (try $0.get("at", as: Int64.self), try $0.get("n", as: Int.self)) }
        }
    }
}
