import Foundation
import PacerCore
import PacerJobs
import PacerStorage

/// Turns registered schedules into runs. `pacer run` (without --drain) calls `tick(now:)` every poll; any number
/// of runners may do so at once: a run is keyed by job and tick in the database, so each tick is enqueued at most
/// once, with no leader to elect.
///
/// Only the latest due tick is enqueued: if nothing ran for two hours, a `*/5` job gets one run, not 24, and the
/// skipped ticks are counted for `pacer schedule list`. The job file is re-read at each tick; if it no longer
/// parses, the schedule keeps running its last good version and shows the error.
public struct Scheduler: Sendable {
    let store: any PacerStore
    /// How far back a tick is looked for: older ticks are not run late.
    static let lookBackMinutes = 7 * 24 * 60

    public init(store: any PacerStore) { self.store = store }

    /// Enqueues each schedule's due tick. One schedule's failure (its account removed, its items file gone) is
    /// recorded on that schedule (`schedule list`, `status`) and skipped; the others still run, and the tick only
    /// throws when the schedules cannot be read at all.
    @discardableResult
    public func tick(now: Int64) throws -> [EnqueuedRun] {
        var enqueued: [EnqueuedRun] = []
        for schedule in try store.schedules() {
            do {
                enqueued += try tick(schedule, now: now)
            } catch {
                try? store.updateSchedule(job: schedule.job, lastTick: nil, addMissed: 0,
                                          lastError: "\(error) (skipped this tick)", source: nil)
            }
        }
        return enqueued
    }

    private func tick(_ schedule: ScheduleRecord, now: Int64) throws -> [EnqueuedRun] {
        let (spec, source, error) = load(schedule)
        guard let spec, let cron = spec.schedule else {
            try store.updateSchedule(job: schedule.job, lastTick: nil, addMissed: 0, lastError: error, source: nil)
            return []
        }
        let after = max(schedule.lastTick ?? Int64.min, schedule.registeredAt)
        let offset = Self.offsetFinder(spec.timezone)
        guard let (latest, missed) = Self.latestTick(cron, offset: offset, now: now, after: after) else {
            if error != nil || source != nil {
                try store.updateSchedule(job: schedule.job, lastTick: nil, addMissed: 0, lastError: error, source: source)
            }
            return []
        }
        let runs = try Enqueuer(store: store, nowMilliseconds: { now }).enqueue(specs: [spec], scheduleTick: latest)
        let fresh = runs.filter { !$0.skipped }
        try store.updateSchedule(job: schedule.job, lastTick: latest, addMissed: fresh.isEmpty ? 0 : missed,
                                 lastError: error, source: source)
        return fresh
    }

    /// The job as it is on disk now, or its last good version with the reason the file was refused.
    func load(_ schedule: ScheduleRecord) -> (JobSpec?, newSource: String?, error: String?) {
        do {
            let text = try String(contentsOfFile: schedule.file, encoding: .utf8)
            let spec = try JobFileParser.parse(yaml: text, file: schedule.file)
            guard spec.schedule != nil else {
                throw JobFileError(file: schedule.file, line: 1, column: 1, field: "schedule",
                                   message: "missing; the file was registered as a schedule")
            }
            guard spec.name == schedule.job else {
                throw JobFileError(file: schedule.file, line: 1, column: 1, field: "name",
                                   message: "is now '\(spec.name)'; the schedule is for '\(schedule.job)'")
            }
            return (spec, text == schedule.source ? nil : text, nil)
        } catch {
            let lastGood = try? JobFileParser.parse(yaml: schedule.source, file: schedule.file)
            return (lastGood, nil, "\(error) (running the last good version)")
        }
    }

    /// The latest tick in `(after, now]` and how many earlier ticks in that span are skipped.
    static func latestTick(_ cron: CronSchedule, offset: (Int64) -> Int64, now: Int64,
                           after: Int64) -> (tick: Int64, missed: Int)? {
        var minute = now - ((now % 60_000) + 60_000) % 60_000
        var latest: Int64?
        var missed = 0
        var scanned = 0
        while minute > after && scanned < lookBackMinutes {
            if cron.matches(epochMilliseconds: minute + offset(minute)) {
                if latest == nil { latest = minute } else { missed += 1 }
            }
            minute -= 60_000
            scanned += 1
        }
        return latest.map { ($0, missed) }
    }

    /// The schedule's next tick after `now` (a minute boundary), looking up to eight days ahead; nil beyond.
    public static func nextTick(_ cron: CronSchedule, timezone: String?, after now: Int64) -> Int64? {
        let offset = offsetFinder(timezone)
        var minute = now - ((now % 60_000) + 60_000) % 60_000 + 60_000
        for _ in 0..<(8 * 24 * 60) {
            if cron.matches(epochMilliseconds: minute + offset(minute)) { return minute }
            minute += 60_000
        }
        return nil
    }

    /// Milliseconds to add to a UTC instant to get the schedule's local wall time.
    static func offsetFinder(_ timezone: String?) -> (Int64) -> Int64 {
        guard let timezone, let zone = TimeZone(identifier: timezone) else { return { _ in 0 } }
        return { ms in Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000 }
    }
}
