import Foundation
import PacerCore
import PacerJobs
import PacerOperations
import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI
@testable import PacerQueue
import PacerSQLite

/// Schedules with an injected clock: no test here waits for a minute to pass.
@Suite struct SchedulerTests {
    let dir = TempDir()
    let store: SQLiteStore
    /// 2026-11-21T10:00:00Z.
    let start: Int64 = 1_795_255_200_000

    init() throws {
        store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.sqlite").path)
        try store.addAccount(Account(name: "kk", provider: .kookeey, baseURL: "http://127.0.0.1:9",
                                     limit: RateLimit(count: 10, windowMilliseconds: 1000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S")),
                             replace: false, nowMilliseconds: 0)
    }

    @discardableResult
    func register(_ yaml: String, name: String = "poll.yaml") throws -> String {
        let path = dir.write(name, yaml)
        let spec = try JobFileParser.parse(file: path)
        try store.addSchedule(ScheduleRecord(job: spec.name, file: path, source: yaml, registeredAt: start))
        return path
    }

    static let poll = """
        name: poll
        account: kk
        request:
          method: GET
          path: /stock
          params:
            g: "{{item}}"
        items:
          list: [433, 434]
        schedule: "*/5 * * * *"
        """

    func runs() throws -> [RunStatus] { try store.status().runs }

    @Test(arguments: [1, 3])
    func everyFiveMinutesOverHalfAnHourIsSixRuns(runners: Int) throws {
        try register(Self.poll)
        let schedulers = (0..<runners).map { _ in Scheduler(store: store) }
        // Each runner ticks every 20 simulated seconds, in turn, for 30 minutes after registration.
        for step in stride(from: Int64(20_000), through: 30 * 60_000 + 30_000, by: 20_000) {
            for scheduler in schedulers { try scheduler.tick(now: start + step) }
        }
        let runs = try runs()
        #expect(runs.count == 6)
        #expect(runs.allSatisfy { $0.job == "poll" && $0.total == 2 })
        #expect(try store.schedules()[0].missedTicks == 0)
    }

    @Test func aTwoHourGapEnqueuesOnlyTheLatestTick() throws {
        try register(Self.poll)
        let scheduler = Scheduler(store: store)
        try scheduler.tick(now: start + 5 * 60_000 + 1_000)             // 10:05 runs
        #expect(try runs().count == 1)
        try scheduler.tick(now: start + 2 * 3_600_000 + 5 * 60_000 + 1_000)  // nothing ran until 12:05
        #expect(try runs().count == 2)
        let schedule = try store.schedules()[0]
        #expect(schedule.missedTicks == 23)  // 10:10 ... 12:00
        #expect(schedule.lastTick == start + 2 * 3_600_000 + 5 * 60_000)
    }

    @Test func aChangedFileIsPickedUpAndABrokenOneKeepsTheLastGoodVersion() throws {
        let path = try register(Self.poll)
        let scheduler = Scheduler(store: store)
        try Self.poll.replacingOccurrences(of: "[433, 434]", with: "[1, 2, 3]").write(toFile: path, atomically: true, encoding: .utf8)
        try scheduler.tick(now: start + 5 * 60_000)
        #expect(try runs().last?.total == 3)
        try "name: poll\naccount: kk\nrequest: [broken\n".write(toFile: path, atomically: true, encoding: .utf8)
        try scheduler.tick(now: start + 10 * 60_000)
        #expect(try runs().count == 2)
        #expect(try runs().last?.total == 3, "ran the last good version")
        let error = try store.schedules()[0].lastError ?? ""
        #expect(error.contains(path) && error.contains("last good version"), "\(error)")
    }

    @Test func timezonesShiftTheTicks() throws {
        // 09:00 in Berlin (UTC+1 in November) is 08:00 UTC.
        try register(Self.poll.replacingOccurrences(of: "\"*/5 * * * *\"", with: "\"0 9 * * *\"\ntimezone: Europe/Berlin"))
        let scheduler = Scheduler(store: store)
        let eightUTCNextDay = start - 2 * 3_600_000 + 86_400_000
        try scheduler.tick(now: eightUTCNextDay - 60_000)
        #expect(try runs().isEmpty)
        try scheduler.tick(now: eightUTCNextDay + 1_000)
        #expect(try runs().count == 1)
    }

    /// README's cron recipe: `*/5 * * * *` with `--unique-for 5m`. Cron starts each launch a few milliseconds late
    /// or early; every launch one period after the last must enqueue, a second launch inside a period must not.
    @Test func uniqueForKeepsEveryCronTickDespiteJitterAndRefusesASecondLaunchInAPeriod() throws {
        let file = dir.write("job.yaml", "name: once\naccount: kk\nrequest:\n  method: GET\n  path: /stock\n")
        var now = start
        let enqueue = { try Enqueuer(store: store, nowMilliseconds: { now }).enqueue(files: [file], uniqueWithinMilliseconds: 300_000) }
        #expect(try enqueue().map(\.skipped) == [false])
        now = start + 120_000                       // a second, manual launch inside the period
        #expect(try enqueue().map(\.skipped) == [true])
        now = start + 300_000 - 100                 // the next tick, launched 100 ms "early"
        #expect(try enqueue().map(\.skipped) == [false])
        now = start + 600_000 + 40                  // and the next, 140 ms later than the previous period
        #expect(try enqueue().map(\.skipped) == [false])
        now = start + 600_000 + 200_000
        #expect(try enqueue().map(\.skipped) == [true])
        #expect(try runs().count == 3)
    }

    /// A schedule whose job no longer validates (its account was removed) is reported and skipped; the others keep
    /// running, and the tick does not fail (under systemd a failing tick would crash-loop the daemon).
    @Test func aBrokenScheduleIsReportedAndTheOthersKeepRunning() throws {
        try store.addAccount(Account(name: "gone", provider: .kookeey, baseURL: "http://127.0.0.1:9",
                                     limit: RateLimit(count: 10, windowMilliseconds: 1000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S")),
                             replace: false, nowMilliseconds: 0)
        try register(Self.poll)
        try register(Self.poll.replacingOccurrences(of: "name: poll", with: "name: other")
                        .replacingOccurrences(of: "account: kk", with: "account: gone"), name: "other.yaml")
        try store.removeAccount(named: "gone", purgeRuns: false)
        let scheduler = Scheduler(store: store)
        let runs = try scheduler.tick(now: start + 5 * 60_000 + 1_000)
        #expect(runs.map(\.job) == ["poll"])
        let other = try store.schedules().first { $0.job == "other" }
        #expect(other?.lastError?.contains("gone") == true, "\(String(describing: other?.lastError))")
        #expect(try store.schedules().first { $0.job == "poll" }?.lastError == nil)
        // `status` reports it too.
        let broken = try store.schedules().filter { $0.lastError != nil }
        let json = StatusView.json(try store.status(), brokenSchedules: broken).compactText
        #expect(json.contains(#""schedule_errors":[{"job":"other","error":"#), "\(json)")
        #expect(StatusCommand.scheduleErrors(broken).hasPrefix("\nschedule other: "))
    }
}
