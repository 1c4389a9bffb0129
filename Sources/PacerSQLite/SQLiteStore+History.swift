import GRDB
import PacerStorage

/// The limiter's history for the dashboard (see `LimiterHistory.swift`): rows in, rows out.
extension SQLiteStore {
    public func addHistory(_ buckets: [HistoryBucket]) throws {
        guard !buckets.isEmpty else { return }
        try writeImmediate { db in
            for b in buckets {
                try db.execute(sql: """
                    INSERT INTO limiter_history (account, pool, bucket_start, width_ms, sent, refused)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (account, pool, bucket_start)
                    DO UPDATE SET sent = sent + excluded.sent, refused = refused + excluded.refused
                    """, arguments: [b.account, b.pool, b.start, b.widthMilliseconds, b.sent, b.refused])
            }
        }
    }

    public func trimHistory(before: Int64) throws {
        try writeImmediate { db in
            try db.execute(sql: "DELETE FROM limiter_history WHERE bucket_start < ? AND bucket_start + width_ms < ?",
                           arguments: [before, before])
            try db.execute(sql: "DELETE FROM cooldown_history WHERE until_at < ?", arguments: [before])
        }
    }

    public func history(account: String, since: Int64) throws -> AccountHistory {
        let shift = wallToSteady // the store's instants are on the host's steady clock
        return try pool.read { db in
            let buckets = try Row.fetchAll(db, sql: """
                SELECT pool, bucket_start, width_ms, sent, refused FROM limiter_history
                WHERE account = ? AND bucket_start > ? AND bucket_start + width_ms > ? ORDER BY bucket_start
                """, arguments: [account, since + shift - historyReachMilliseconds, since + shift]).map { row in
                HistoryBucket(account: account, pool: row["pool"], start: row["bucket_start"] - shift,
                              widthMilliseconds: row["width_ms"], sent: row["sent"], refused: row["refused"])
            }
            let coolDowns = try Row.fetchAll(db, sql: """
                SELECT pool, from_at, until_at FROM cooldown_history WHERE account = ? AND until_at > ? ORDER BY from_at
                """, arguments: [account, since + shift]).map { row in
                CoolDownSpan(pool: row["pool"], from: row["from_at"] - shift, until: row["until_at"] - shift)
            }
            return AccountHistory(buckets: buckets, coolDowns: coolDowns)
        }
    }
}

extension SQLiteStore {
    public func runProgress(run: Int64, since: Int64, width: Int64) throws -> [(at: Int64, finished: Int)] {
        let shift = wallToSteady, width = max(1, width)
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT (r.finished_at - ?) / ? * ? AS at, COUNT(*) AS n FROM results r JOIN calls c ON c.id = r.call_id
                WHERE c.run_id = ? AND r.finished_at >= ? GROUP BY 1 ORDER BY 1
                """, arguments: [shift, width, width, run, since + shift]).map { ($0["at"], $0["n"]) }
        }
    }
}
