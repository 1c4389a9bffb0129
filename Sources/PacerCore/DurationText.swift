/// Durations as users write them: `250ms`, `1s`, `30s`, `5m`, `2h`, `1d`. One number, one unit.
public enum DurationText {
    /// The longest duration accepted: a year and a day. Windows, backoffs and ages longer than that are typing
    /// errors, and instants a duration away from now must stay far from Int64's end.
    public static let maximumMilliseconds: Int64 = 366 * 86_400_000
    public static let maximumText = "366d"

    /// Milliseconds for `text`, or `nil` when it is not a positive whole number followed by a known unit, or is
    /// longer than `maximumMilliseconds`.
    public static func milliseconds(_ text: String) -> Int64? {
        let trimmed = text.trimmingWhitespace()
        guard let unitStart = trimmed.firstIndex(where: { !$0.isASCII || !$0.isNumber }) else { return nil }
        let digits = trimmed[..<unitStart]
        let unit = trimmed[unitStart...]
        guard !digits.isEmpty, let value = Int64(digits), value > 0 else { return nil }
        let scale: Int64
        switch unit {
        case "ms": scale = 1
        case "s": scale = 1_000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow || product > maximumMilliseconds ? nil : product
    }

    /// The shortest exact spelling of a millisecond count (`60000` -> `1m`).
    public static func format(milliseconds ms: Int64) -> String {
        for (scale, unit) in [(Int64(86_400_000), "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")]
        where ms >= scale && ms % scale == 0 {
            return "\(ms / scale)\(unit)"
        }
        return "\(ms)ms"
    }

    /// A remaining time for people, rounded up to the second: `42s`, `3m10s`, `2h05m` (ETAs in `status` and on
    /// `pacer run`'s terminal display).
    public static func eta(seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        return "\(s / 3600)h\(two(s % 3600 / 60))m"
    }

    public static let expected = "a whole number and a unit (ms, s, m, h, d), like 500ms, 1s, 5m, at most 366d"
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
