import Foundation
import GRDB

/// The clock every process on this host reads the same and that no step of the wall clock moves: the SQLite
/// store's clock for the instants the limiter and recovery compare (docs/internals.md, "Time").
///
/// `CLOCK_BOOTTIME` is kernel-wide, never stepped, and counts the time a suspended machine was away (as a
/// provider's window does, unlike `CLOCK_MONOTONIC`). It counts from boot, so the database anchors it once per
/// boot: the first process to open the database on a boot records wall time minus boot time beside the boot's
/// id (`host_clock`), and every process of that boot reads "now" as boot time plus that offset. Instants read as
/// epoch milliseconds (wall time as it was when the boot was first seen), and a reboot is recognised by its id.
public struct HostClock: Sendable {
    /// This boot of the kernel (`/proc/sys/kernel/random/boot_id`).
    public var bootID: String
    /// Milliseconds since boot, suspended time included.
    public var bootMilliseconds: @Sendable () -> Int64
    /// Wall time in epoch milliseconds: read only to anchor a new boot.
    public var wallMilliseconds: @Sendable () -> Int64

    public init(bootID: String, bootMilliseconds: @escaping @Sendable () -> Int64,
                wallMilliseconds: @escaping @Sendable () -> Int64) {
        self.bootID = bootID
        self.bootMilliseconds = bootMilliseconds
        self.wallMilliseconds = wallMilliseconds
    }

    /// This host's clocks. Inside a time namespace (a restored container), boot time reads the namespace's offset
    /// more than the host's: it is taken off, so that every process on the host reads one clock.
    public static let system: HostClock = {
        let namespaceOffset = namespaceBootOffsetMilliseconds()
        return HostClock(
            bootID: ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown")
                .trimmingCharacters(in: .whitespacesAndNewlines),
            bootMilliseconds: {
                var spec = timespec()
                #if os(Linux)
                clock_gettime(CLOCK_BOOTTIME, &spec)
                #else
                clock_gettime(CLOCK_MONOTONIC, &spec)
                #endif
                return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000 - namespaceOffset
            },
            wallMilliseconds: { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) })
    }()

    /// The `boottime` line of `/proc/self/timens_offsets` ("boottime SECONDS NANOSECONDS"), or 0.
    static func namespaceBootOffsetMilliseconds() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/timens_offsets", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count == 3, fields[0] == "boottime", let seconds = Int64(fields[1]), let nanos = Int64(fields[2]) {
                return seconds * 1_000 + nanos / 1_000_000
            }
        }
        return 0
    }

    /// The offset for this boot in the database at `pool`, recorded now if this boot has none. A new boot's
    /// timeline starts at wall time, but never before the latest instant of the one before (a heartbeat's, or a
    /// spend's): a clock that came back from a reboot behind must not put the last window's spends, cool-downs and
    /// due times in the future (and stall the limiter).
    func anchor(in pool: DatabasePool) throws -> Int64 {
        let find = "SELECT offset_ms FROM host_clock WHERE boot_id = ?"
        if let known = try pool.read({ try Int64.fetchOne($0, sql: find, arguments: [bootID]) }) { return known }
        return try pool.writeWithoutTransaction { db in
            var offset: Int64 = 0
            try db.inTransaction(.immediate) {
                if let known = try Int64.fetchOne(db, sql: find, arguments: [bootID]) {
                    offset = known
                    return .commit
                }
                let boot = bootMilliseconds(), latest = try Int64.fetchOne(db, sql: """
                    SELECT MAX(t) FROM (SELECT MAX(at) AS t FROM limiter_spends UNION ALL SELECT latest_ms FROM host_clock)
                    """)
                offset = max(wallMilliseconds(), (latest ?? Int64.min / 2) + 1) - boot
                try db.execute(sql: "DELETE FROM host_clock")
                try db.execute(sql: "INSERT INTO host_clock (boot_id, offset_ms) VALUES (?, ?)", arguments: [bootID, offset])
                return .commit
            }
            return offset
        }
    }
}
