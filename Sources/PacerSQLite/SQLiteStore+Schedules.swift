import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    public func addSchedule(_ schedule: ScheduleRecord) throws {
        try writeImmediate { db in
            try db.execute(sql: """
                INSERT INTO schedules (job, file, source, registered_at, last_tick, missed_ticks, last_error)
                VALUES (?, ?, ?, ?, NULL, 0, NULL)
                ON CONFLICT(job) DO UPDATE SET file = excluded.file, source = excluded.source, last_error = NULL
                """, arguments: [schedule.job, schedule.file, schedule.source, schedule.registeredAt])
        }
    }

    public func removeSchedule(job: String) throws(StoreError) {
        try storeCall {
            try writeImmediate { db in
                try db.execute(sql: "DELETE FROM schedules WHERE job = ?", arguments: [job])
                guard db.changesCount == 1 else { throw StoreError(.unknownAccount, "no schedule for job '\(job)'") }
            }
        }
    }

    public func schedules() throws -> [ScheduleRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM schedules ORDER BY job").map { row in
                ScheduleRecord(job: row["job"], file: row["file"], source: row["source"],
                               registeredAt: row["registered_at"], lastTick: row["last_tick"],
                               missedTicks: row["missed_ticks"], lastError: row["last_error"])
            }
        }
    }

    public func updateSchedule(job: String, lastTick: Int64?, addMissed: Int, lastError: String?, source: String?) throws {
        try writeImmediate { db in
            try db.execute(sql: """
                UPDATE schedules SET last_tick = MAX(COALESCE(last_tick, 0), COALESCE(?, 0)),
                    missed_ticks = missed_ticks + ?, last_error = ?, source = COALESCE(?, source)
                WHERE job = ?
                """, arguments: [lastTick, addMissed, lastError, source, job])
        }
    }
}
