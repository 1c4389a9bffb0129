/// A five-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
///
/// Supports `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b,c`. Day-of-week is 0-6 with 0 =
/// Sunday (7 is accepted as Sunday too). As in Vixie cron, when both day fields are restricted a day matches if
/// either does.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(parsing text: String) throws(ParseError) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(message: "expected five fields (minute hour day-of-month month day-of-week), found \(fields.count)")
        }
        self.text = text
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12)
        var dow = try Self.field(fields[4], name: "day-of-week", range: 0...7)
        if dow.remove(7) != nil { dow.insert(0) }
        daysOfWeek = dow
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    public var description: String { text }

    /// Whether the minute starting at the given UTC calendar fields is a tick.
    public func matches(minute: Int, hour: Int, dayOfMonth: Int, month: Int, dayOfWeek: Int) -> Bool {
        guard minutes.contains(minute), hours.contains(hour), months.contains(month) else { return false }
        let domOK = daysOfMonth.contains(dayOfMonth)
        let dowOK = daysOfWeek.contains(dayOfWeek)
        if dayOfMonthRestricted && dayOfWeekRestricted { return domOK || dowOK }
        return domOK && dowOK
    }

    /// Whether the UTC minute containing `epochMilliseconds` is a tick.
    public func matches(epochMilliseconds: Int64) -> Bool {
        let c = UTCCalendarFields(epochMilliseconds: epochMilliseconds)
        return matches(minute: c.minute, hour: c.hour, dayOfMonth: c.day, month: c.month, dayOfWeek: c.weekday)
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>) throws(ParseError) -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(message: "\(name): '\(part)' has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else {
                    throw ParseError(message: "\(name): step in '\(part)' must be a positive number")
                }
                step = s
            }
            let base = pieces[0]
            var lo: Int, hi: Int
            if base == "*" {
                (lo, hi) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                guard let a = Int(base[..<dash]), let b = Int(base[base.index(after: dash)...]) else {
                    throw ParseError(message: "\(name): '\(part)' is not a range like 1-5")
                }
                (lo, hi) = (a, b)
            } else {
                guard let a = Int(base) else {
                    throw ParseError(message: "\(name): '\(part)' is not a number, range, step or *")
                }
                (lo, hi) = (a, pieces.count == 2 ? range.upperBound : a)
            }
            guard range.contains(lo), range.contains(hi), lo <= hi else {
                throw ParseError(message: "\(name): '\(part)' is outside \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: lo, through: hi, by: step))
        }
        return values
    }
}

/// Calendar fields of an instant in UTC, computed without Foundation's calendars (days-from-civil arithmetic).
public struct UTCCalendarFields: Sendable, Equatable {
    public let year: Int, month: Int, day: Int, hour: Int, minute: Int
    /// 0 = Sunday.
    public let weekday: Int

    public init(epochMilliseconds: Int64) {
        let seconds = epochMilliseconds >= 0 ? epochMilliseconds / 1000 : (epochMilliseconds - 999) / 1000
        var days = seconds / 86_400
        var rem = seconds % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        hour = Int(rem / 3600)
        minute = Int(rem % 3600 / 60)
        weekday = Int(((days % 7) + 11) % 7) // 1970-01-01 was a Thursday (4)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = Int(doy - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
    }
}
