import ArgumentParser
import Foundation
import PacerCore
import PacerJobs
import PacerQueue

/// `pacer plan FILE.yaml...` (and `pacer enqueue --dry-run`): validate as enqueue does, queue nothing, and say
/// what would happen: per run, the account, the calls, the pool they draw from, the first rendered requests (no
/// secrets, no signature) and how long the limits alone will take (Contract 5; the formula in docs/planning.md).
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show what enqueueing job files would do, without queuing anything.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Job files (YAML).") var files: [String]
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Refuse, as enqueue --strict does, orders the provider could dedupe but that carry no {{key}}.")
    var strict = false
    @Option(help: "The margin `pacer run --margin` will use, like 20ms (default: the runner's).") var margin: String?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one job file") }
        if let margin, margin != "0ms", DurationText.milliseconds(margin) == nil {
            throw ValidationError("--margin '\(margin)': expected \(DurationText.expected)")
        }
    }

    func run() throws {
        let plan = try Self.plan(files: files, store: store, strict: strict,
                                 margin: margin.map { $0 == "0ms" ? 0 : DurationText.milliseconds($0)! })
        Self.print(plan, json: json)
    }

    /// What `plan` and `enqueue --dry-run` print.
    static func print(_ plan: JobPlan, json: Bool) {
        Swift.print(json ? Self.json(plan).compactText : Self.text(plan), terminator: json ? "\n" : "")
    }

    static func plan(files: [String], store: StoreOptions, strict: Bool, margin: Int64? = nil) throws -> JobPlan {
        // A plan reads: it never creates a database (a mistyped --db would otherwise leave an empty one behind).
        if !store.path.hasPrefix("postgres://") && !store.path.hasPrefix("postgresql://")
            && !FileManager.default.fileExists(atPath: store.path) {
            throw CLIError("no database at '\(store.path)' (give --db, or register accounts first)")
        }
        let specs = try files.map { file throws(JobFileError) in try JobFileParser.parse(file: file) }
        return try Enqueuer(store: try store.open(), nowMilliseconds: WallClock.nowMilliseconds)
            .plan(specs: specs, strict: strict, warn: { printError("warning: \($0)") }, marginMilliseconds: margin)
    }

    static func seconds(_ ms: Int64) -> JSONValue { .number(String(format: "%.3f", Double(ms) / 1000)) }

    static func json(_ plan: JobPlan) -> JSONValue {
        .object([
            .init("runs", .array(plan.runs.map { run in
                .object([
                    .init("job", .string(run.job)), .init("account", .string(run.account)),
                    .init("calls", .number(String(run.calls))),
                    .init("pools", .array(run.pools.map { pool in
                        .object([.init("pool", .string(PoolKey.display(pool.name))),
                                 .init("weight", .number(String(run.weight))),
                                 .init("limit", .string(pool.windows.map(\.description).joined(separator: ";")))])
                    })),
                    .init("already_queued", .number(String(run.alreadyQueued))),
                    .init("paused", run.paused.map(JSONValue.string) ?? .null),
                    .init("sample", .array(run.sample.map(sample))),
                    .init("eta_seconds", seconds(run.etaMilliseconds)),
                ])
            })),
            .init("eta_seconds", seconds(plan.etaMilliseconds)),
        ])
    }

    static func sample(_ call: NewCall) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("method", .string(call.method.rawValue)), .init("path", .string(call.path)),
            .init("params", (try? JSONValue(parsing: call.params)) ?? .string(call.params)),
        ]
        if let body = call.body { members.append(.init("body", (try? JSONValue(parsing: body)) ?? .string(body))) }
        return .object(members)
    }

    /// A sample line cut to a terminal's width (the JSON keeps it whole).
    static func clipped(_ line: String, to width: Int = 118) -> String {
        line.count <= width ? line : String(line.prefix(width - 3)) + "..."
    }

    static func text(_ plan: JobPlan) -> String {
        let calls = plan.runs.reduce(0) { $0 + $1.calls }
        var out = "plan: \(plan.runs.count) run(s), \(calls) call(s); nothing was queued\n"
        for run in plan.runs {
            out += "\n\(run.job) on \(run.account): \(run.calls) call(s), weight \(run.weight) each, "
                + "from " + run.pools.map { "\(PoolKey.display($0.name)) (\($0.windows.map(\.description).joined(separator: ", ")))" }
                    .joined(separator: " and ")
            out += run.alreadyQueued > 0 ? " (\(run.alreadyQueued) call(s) already queued go first)\n" : "\n"
            for call in run.sample {
                out += clipped("  \(call.method.rawValue) \(call.path) \(call.params)" + (call.body.map { " body \($0)" } ?? "")) + "\n"
            }
            if run.calls > run.sample.count { out += "  ... \(run.calls - run.sample.count) more\n" }
            out += "  limits alone: \(DurationText.eta(seconds: Double(run.etaMilliseconds) / 1000))"
            out += run.paused.map { " once resumed (the account is paused: \($0))" } ?? ""
            out += "\n"
        }
        if plan.runs.count > 1 {
            out += "\nall done after about \(DurationText.eta(seconds: Double(plan.etaMilliseconds) / 1000)) "
                + "of sending (the limits alone)\n"
        }
        return out
    }
}
