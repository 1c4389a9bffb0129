import ArgumentParser
import PacerCore
import PacerJobs
import PacerQueue
import PacerStorage

struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Validate job files, then queue their calls atomically.",
        discussion: "Nothing is queued if any file has an error; the error names the file, line, column and field.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Job files (YAML).") var files: [String]
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("unique-for"),
            help: "Queue nothing (exit 0) for a job that had a run enqueued within this period, like 5m.")
    var uniqueFor: String?
    @Flag(help: "Refuse a non-idempotent job that its provider could deduplicate with {{key}} and that has no key.")
    var strict = false
    @Flag(name: .customLong("dry-run"), help: "Queue nothing; print what would be queued (as `pacer plan`).")
    var dryRun = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one job file") }
        if let uniqueFor, DurationText.milliseconds(uniqueFor) == nil {
            throw ValidationError("--unique-for '\(uniqueFor)': expected \(DurationText.expected)")
        }
    }

    func run() throws {
        if dryRun {
            let plan = try PlanCommand.plan(files: files, store: store, strict: strict)
            PlanCommand.print(plan, json: json)
            return
        }
        let all = try Enqueuer(store: try store.open(), nowMilliseconds: WallClock.nowMilliseconds)
            .enqueue(files: files, uniqueWithinMilliseconds: uniqueFor.flatMap(DurationText.milliseconds),
                     strict: strict, warn: { warning in printError("warning: \(warning)") })
        let runs = all.filter { !$0.skipped }
        let skipped = all.filter(\.skipped)
        if json {
            let list = runs.map { r -> JSONValue in
                .object([.init("run", .number(String(r.run))), .init("job", .string(r.job)),
                         .init("account", .string(r.account)), .init("calls", .number(String(r.calls))),
                         .init("pools", .array(r.pools.map { .object([.init("pool", .string($0)),
                                                                      .init("weight", .number(String(r.weight)))]) }))])
            }
            var members: [JSONValue.Member] = [.init("runs", .array(list))]
            if !skipped.isEmpty {
                members.append(.init("skipped", .array(skipped.map {
                    .object([.init("job", .string($0.job)), .init("existing_run", .number(String($0.run)))])
                })))
            }
            print(JSONValue.object(members).compactText)
        } else {
            for r in runs {
                let pools = r.pools.isEmpty ? "" : ", drawing \(r.weight) each from " + r.pools.joined(separator: " and ")
                print("run \(r.run): \(r.job) on \(r.account), \(r.calls) call\(r.calls == 1 ? "" : "s") queued\(pools)")
            }
            for r in skipped {
                print("\(r.job): run \(r.run) was enqueued within \(uniqueFor ?? "the period"); nothing queued")
            }
        }
    }
}
