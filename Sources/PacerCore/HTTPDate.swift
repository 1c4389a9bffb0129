/// Parses the IMF-fixdate form of an HTTP `Date` header (`Sat, 21 Nov 2026 06:05:00 GMT`), the only form a
/// server may send (RFC 9110), into milliseconds since the epoch. Used to correct the clock offset.
public enum HTTPDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func milliseconds(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]),
              let monthIndex = months.firstIndex(of: String(parts[2]))
        else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, (1...31).contains(day), (0...23).contains(hms[0]), (0...59).contains(hms[1]),
              (0...60).contains(hms[2])
        else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return (days * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2])) * 1000
    }

    /// Formats milliseconds since the epoch as an IMF-fixdate.
    public static func format(milliseconds: Int64) -> String {
        let f = UTCCalendarFields(epochMilliseconds: milliseconds)
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let seconds = Int((milliseconds / 1000) % 60 + 60) % 60
        return "\(names[f.weekday]), \(two(f.day)) \(months[f.month - 1]) \(f.year) "
            + "\(two(f.hour)):\(two(f.minute)):\(two(seconds)) GMT"
    }

    /// Howard Hinnant's days_from_civil.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
