import ArgumentParser
import PacerCore
import PacerJobs
import PacerStore

struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Validate job files, then queue their calls atomically.",
        discussion: "Nothing is queued if any file has an error; the error names the file, line, column and field.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Job files (YAML).") var files: [String]
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one job file") }
    }

    func run() throws {
        let runs = try Enqueuer(store: try store.open(), nowMilliseconds: WallClock.nowMilliseconds)
            .enqueue(files: files)
        if json {
            let list = runs.map { r -> JSONValue in
                .object([.init("run", .number(String(r.run))), .init("job", .string(r.job)),
                         .init("account", .string(r.account)), .init("calls", .number(String(r.calls)))])
            }
            print(JSONValue.object([.init("runs", .array(list))]).compactText)
        } else {
            for r in runs { print("run \(r.run): \(r.job) on \(r.account), \(r.calls) call\(r.calls == 1 ? "" : "s") queued") }
        }
    }
}
