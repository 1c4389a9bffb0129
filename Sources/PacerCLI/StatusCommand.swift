import ArgumentParser
import PacerCore
import PacerStore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Calls by state, per run and per account.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let report = try store.open().status()
        print(json ? Self.json(report).compactText : Self.table(report), terminator: json ? "\n" : "")
    }

    static func counts(_ counts: [CallState: Int]) -> JSONValue {
        .object(CallState.allCases.map { .init($0.rawValue, .number(String(counts[$0] ?? 0))) })
    }

    static func json(_ report: StatusReport) -> JSONValue {
        .object([
            .init("runs", .array(report.runs.map { r in
                .object([.init("run", .number(String(r.run))), .init("job", .string(r.job)),
                         .init("account", .string(r.account)), .init("counts", counts(r.counts))])
            })),
            .init("accounts", .array(report.accounts.map { a in
                .object([.init("account", .string(a.account)), .init("paused", .bool(a.paused)),
                         .init("reason", a.pausedReason.map(JSONValue.string) ?? .null),
                         .init("counts", counts(a.counts))])
            })),
        ])
    }

    /// States with calls in them, in life-cycle order: `queued=10 succeeded=990`.
    static func summary(_ counts: [CallState: Int]) -> String {
        let parts = CallState.allCases.compactMap { s in counts[s].flatMap { $0 > 0 ? "\(s.rawValue)=\($0)" : nil } }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }

    static func table(_ report: StatusReport) -> String {
        var runs = TextTable(["RUN", "JOB", "ACCOUNT", "DONE", "STATES"])
        for r in report.runs {
            runs.add(["\(r.run)", r.job, r.account, "\(r.finished)/\(r.total)", summary(r.counts)])
        }
        var accounts = TextTable(["ACCOUNT", "PROVIDER", "LIMIT", "STATE", "CALLS"])
        for a in report.accounts {
            accounts.add([a.account, a.provider.rawValue, a.limit.description,
                          a.pausedReason.map { "paused: \($0)" } ?? "active", summary(a.counts)])
        }
        let runText = report.runs.isEmpty ? "no runs queued\n" : runs.render()
        return runText + "\n" + (report.accounts.isEmpty ? "no accounts (see `pacer account add`)\n" : accounts.render())
    }
}
