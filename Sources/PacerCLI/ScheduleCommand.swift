import ArgumentParser
import Foundation
import PacerCore
import PacerJobs
import PacerQueue
import PacerOperations
import PacerStorage

/// `pacer schedule add|list|remove`: recurring jobs, ticked by `pacer run` without --drain.
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Register, list and remove recurring jobs (the job file's `schedule:`).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a job file that has a `schedule:`.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The job file.") var file: String

        func run() throws {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let spec = try JobFileParser.parse(file: path)
            guard let cron = spec.schedule else {
                throw JobFileError(file: path, line: 1, column: 1, field: "schedule",
                                   message: "missing; a scheduled job needs a five-field cron like \"*/5 * * * *\"")
            }
            let opened = try store.open()
            try Enqueuer(store: opened, nowMilliseconds: WallClock.nowMilliseconds).check([spec])
            let source = try String(contentsOfFile: path, encoding: .utf8)
            try opened.addSchedule(ScheduleRecord(job: spec.name, file: path, source: source,
                                                  registeredAt: WallClock.nowMilliseconds()))
            print("schedule \(spec.name): \"\(cron)\" \(spec.timezone ?? "UTC"), ticked by `pacer run` (without --drain)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List schedules.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let schedules = try store.open().schedules()
            let specs = schedules.map { try? JobFileParser.parse(yaml: $0.source, file: $0.file) }
            if json {
                print(JSONValue.object([.init("schedules", .array(zip(schedules, specs).map { s, spec in
                    .object([
                        .init("job", .string(s.job)), .init("file", .string(s.file)),
                        .init("schedule", spec?.schedule.map { .string($0.text) } ?? .null),
                        .init("timezone", .string(spec?.timezone ?? "UTC")),
                        .init("last_tick", s.lastTick.map { .string(Timestamps.iso8601($0)) } ?? .null),
                        .init("missed_ticks", .number(String(s.missedTicks))),
                        .init("error", s.lastError.map(JSONValue.string) ?? .null),
                    ])
                }))]).compactText)
                return
            }
            var table = TextTable(["JOB", "SCHEDULE", "TZ", "LAST TICK", "MISSED", "FILE", "ERROR"])
            for (s, spec) in zip(schedules, specs) {
                table.add([s.job, spec?.schedule?.text ?? "?", spec?.timezone ?? "UTC",
                           s.lastTick.map(Timestamps.iso8601) ?? "-", "\(s.missedTicks)", s.file, s.lastError ?? "-"])
            }
            print(schedules.isEmpty ? "no schedules" : table.render(), terminator: schedules.isEmpty ? "\n" : "")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a schedule (by job file or job name).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The job file, or the job's name.") var file: String

        func run() throws {
            let opened = try store.open()
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            let job = try opened.schedules().first { $0.file == path || $0.job == file }?.job
            guard let job else { throw CLIError("no schedule for '\(file)' (see `pacer schedule list`)") }
            try opened.removeSchedule(job: job)
            print("schedule \(job) removed")
        }
    }
}
