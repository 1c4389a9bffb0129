import PacerCore

/// Instants as people and JSON read them.
public enum Timestamps {
    /// `2026-11-21T06:30:00.123Z`.
    public static func iso8601(_ ms: Int64) -> String {
        let f = UTCCalendarFields(epochMilliseconds: ms)
        let s = ((ms % 60_000) + 60_000) % 60_000
        func pad(_ n: Int, _ w: Int) -> String { let t = String(n); return String(repeating: "0", count: max(0, w - t.count)) + t }
        return "\(pad(f.year, 4))-\(pad(f.month, 2))-\(pad(f.day, 2))T\(pad(f.hour, 2)):\(pad(f.minute, 2)):"
            + "\(pad(Int(s / 1000), 2)).\(pad(Int(s % 1000), 3))Z"
    }
}
