import Testing
@testable import PacerCore

@Suite struct CronScheduleTests {
    /// 2026-11-21T10:05:00Z, a Saturday.
    let saturday1005: Int64 = 1_795_255_500_000

    @Test func calendarFieldsOfKnownInstants() {
        let epoch = UTCCalendarFields(epochMilliseconds: 0)
        #expect([epoch.year, epoch.month, epoch.day, epoch.hour, epoch.minute, epoch.weekday] == [1970, 1, 1, 0, 0, 4])
        let s = UTCCalendarFields(epochMilliseconds: saturday1005)
        #expect([s.year, s.month, s.day, s.hour, s.minute, s.weekday] == [2026, 11, 21, 10, 5, 6])
        let leap = UTCCalendarFields(epochMilliseconds: 951_782_400_000) // 2000-02-29T00:00Z, a Tuesday
        #expect([leap.year, leap.month, leap.day, leap.weekday] == [2000, 2, 29, 2])
    }

    @Test(arguments: [
        ("*/5 * * * *", true), ("*/10 * * * *", false), ("5 10 * * *", true), ("5 11 * * *", false),
        ("0-10/5 * * * 6", true), ("* * * * 1-5", false), ("* * 21 11 *", true), ("* * 1 * 6", true),
        ("* * 1 * 0,7", false), ("5,6,7 10 * * 0", false), ("5,6,7 10 1 * 0", false), ("5 10 * * 6,0", true),
    ])
    func matchesSaturday1005(expression: String, expected: Bool) throws {
        let cron = try CronSchedule(parsing: expression)
        #expect(cron.matches(epochMilliseconds: saturday1005) == expected)
    }

    @Test(arguments: ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *",
                      "5-1 * * * *", "a * * * *", "1/2/3 * * * *"])
    func rejects(expression: String) {
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule(parsing: expression) }
    }

    @Test func everyFiveMinutesTicksSixTimesInHalfAnHour() throws {
        let cron = try CronSchedule(parsing: "*/5 * * * *")
        let start = saturday1005 - 5 * 60_000 // 10:00
        let ticks = (0..<30).filter { cron.matches(epochMilliseconds: start + Int64($0) * 60_000) }
        #expect(ticks == [0, 5, 10, 15, 20, 25])
    }
}
