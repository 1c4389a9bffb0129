import ArgumentParser
import Foundation
import PacerCore
import PacerOperations
import PacerStorage

/// `pacer show CALL`: one call's request, state, result and every try.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "One call: its request, state, result and every attempt.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "The call's id (see `pacer results`).") var call: Int64
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let detail = try store.open().callDetail(call) else { throw CLIError("no call \(call)") }
        if json {
            print(CallView.json(detail).compactText)
            return
        }
        let r = detail.record
        var out = "call \(r.call)  run \(r.run)  job \(r.job)  account \(r.account)\n"
        out += "  \(r.method) \(r.path)  params \(r.params)\(detail.body.map { "  body \($0)" } ?? "")\n"
        out += "  state \(r.state.rawValue)\(r.key.map { "  key \($0)" } ?? "")\n"
        if r.state.isTerminal {
            out += "  result: http \(r.httpStatus.map(String.init) ?? "-")  code \(r.code ?? "-")"
                + "\(r.error.map { "  error: \($0)" } ?? "")\(r.data.map { "  data \($0)" } ?? "")\n"
        }
        var tries = TextTable(["TRY", "STARTED", "LATENCY", "HTTP", "CODE", "CLASS", "MESSAGE"])
        for a in detail.attempts {
            tries.add(["\(a.attempt)", a.startedAt.map(Timestamps.iso8601) ?? "-",
                       a.latencyMilliseconds.map { "\($0) ms" } ?? "-", a.httpStatus.map(String.init) ?? "-",
                       a.code ?? "-", a.classification, a.message ?? ""])
        }
        print(out + (detail.attempts.isEmpty ? "  no tries yet\n" : "\n" + tries.render()), terminator: "")
    }
}

/// `pacer retry RUN [--state failed,dead]`: final calls back in the queue with fresh attempts.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Put a finished run's failed and dead calls (or the states named) back in the queue.",
        discussion: "`uncertain` calls may have been performed already: they are retried only when named (--state uncertain).")

    @OptionGroup var store: StoreOptions
    @Argument(help: ArgumentHelp("The run's id (see `pacer status`).", valueName: "run")) var runID: Int64
    @Option(help: "States to retry, comma-separated: failed, dead, cancelled, uncertain (default failed,dead).")
    var state: String = "failed,dead"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let states = try Self.states(state)
        let change = try store.open().retry(run: runID, states: states, nowMilliseconds: WallClock.nowMilliseconds())
        print(json ? ChangeView.json(change, action: "retry").compactText
                   : "run \(change.run): \(change.calls) call(s) back in the queue")
    }

    static func states(_ text: String) throws -> Set<CallState> {
        var states = Set<CallState>()
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let state = CallState(rawValue: name) else {
                throw CLIError("--state '\(name)': expected failed, dead, cancelled or uncertain")
            }
            states.insert(state)
        }
        return states
    }
}

/// `pacer cancel RUN`: queued and retrying calls become `cancelled`; in-flight ones finish.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a run's queued and retrying calls; calls in flight finish.")

    @OptionGroup var store: StoreOptions
    @Argument(help: ArgumentHelp("The run's id (see `pacer status`).", valueName: "run")) var runID: Int64
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let change = try store.open().cancel(run: runID, nowMilliseconds: WallClock.nowMilliseconds())
        print(json ? ChangeView.json(change, action: "cancel").compactText
                   : "run \(change.run): \(change.calls) call(s) cancelled")
    }
}

/// `pacer prune --older-than D`: finished runs, with their calls, tries and results.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete finished runs (their calls, attempts and results) older than a duration.")

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("older-than"), help: "Like 30d, 12h or 90m: runs whose last call ended longer ago.")
    var olderThan: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let age = DurationText.milliseconds(olderThan) else {
            throw CLIError("--older-than '\(olderThan)': expected a duration like 30d, 12h, 90m or 45s, at most \(DurationText.maximumText)")
        }
        let pruned = try store.open().prune(finishedBefore: WallClock.nowMilliseconds() - age)
        print(json ? ChangeView.json(pruned).compactText
                   : "deleted \(pruned.runs) finished run(s) with \(pruned.calls) call(s)"
                     + (pruned.runs > 0 && !pruned.spaceReturned
                        ? "; the space was not given back to the file system (runners are registered, or VACUUM failed): "
                          + "run prune again with the runners stopped" : ""))
    }
}
