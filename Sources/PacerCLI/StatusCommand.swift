import Foundation
import ArgumentParser
import PacerCore
import PacerOperations
import PacerStorage

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Calls by state, per run and per account.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "List every account and run in the table (by default the busiest \(StatusCommand.shown) of each).")
    var all = false

    func run() throws {
        let opened = try store.open()
        let report = try opened.status()
        let limiter = try StatusView.limiter(opened, report, now: WallClock.nowMilliseconds())
        // Schedules whose file was refused at their last tick (skipped, or running their last good version).
        let broken = try opened.schedules().filter { $0.lastError != nil }
        print(json ? StatusView.json(report, limiter: limiter, brokenSchedules: broken).compactText
                   : Self.table(report, buckets: limiter.buckets, limit: all ? nil : Self.shown)
                     + Self.pools(limiter.pools) + Self.scheduleErrors(broken),
              terminator: json ? "\n" : "")
    }

    /// The pools' fill, when some account has more than its one default pool (named pools, several windows, a
    /// shared pool): `spot  acct  12/40 per 3s`.
    static func pools(_ pools: [PoolView]) -> String {
        guard pools.contains(where: { $0.account == nil || $0.pool != "default" || $0.windows.count > 1 }) else { return "" }
        var table = TextTable(["POOL", "ACCOUNT", "SPENT/CAPACITY", "STATE"])
        for p in pools {
            let fill = p.windows.map { "\($0.spent)/\($0.capacity) per \(DurationText.format(milliseconds: $0.limit.windowMilliseconds))" }
            table.add([p.pool, p.account ?? "(shared)",
                       p.perEndpoint ? p.windows.map { "\($0.limit) per endpoint" }.joined(separator: ", ")
                                     : fill.joined(separator: ", "),
                       p.cooldownUntil.map { "cooling down until \(Timestamps.iso8601($0))" } ?? "active"])
        }
        return "\n" + table.render()
    }

    static func scheduleErrors(_ broken: [ScheduleRecord]) -> String {
        guard !broken.isEmpty else { return "" }
        return "\n" + broken.map { "schedule \($0.job): \($0.lastError ?? "")\n" }.joined()
    }

    /// States with calls in them, in life-cycle order: `queued=10 succeeded=990`.
    static func summary(_ counts: [CallState: Int]) -> String {
        let parts = CallState.allCases.compactMap { s in counts[s].flatMap { $0 > 0 ? "\(s.rawValue)=\($0)" : nil } }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }

    /// Rows of each table shown without `--all`: enough to see what is busy, short enough at 1,000 accounts.
    static let shown = 20

    static func table(_ report: StatusReport, buckets: [String: AccountBucket] = [:], limit: Int? = nil) -> String {
        // Beyond `limit` rows, the runs and accounts with the most work left are shown, then a line for the rest.
        func left(_ counts: [CallState: Int]) -> Int { counts.filter { !$0.key.isTerminal }.values.reduce(0, +) }
        func busiest<T>(_ rows: [T], _ counts: (T) -> [CallState: Int]) -> ([T], hidden: Int) {
            guard let limit, rows.count > limit else { return (rows, 0) }
            let ranked = rows.enumerated().sorted { (left(counts($0.element)), -$0.offset) > (left(counts($1.element)), -$1.offset) }
            return (ranked.prefix(limit).sorted { $0.offset < $1.offset }.map(\.element), rows.count - limit)
        }
        var runs = TextTable(["RUN", "JOB", "ACCOUNT", "DONE", "STATES"])
        let (shownRuns, hiddenRuns) = busiest(report.runs, \.counts)
        for r in shownRuns {
            runs.add(["\(r.run)", r.job, r.account, "\(r.finished)/\(r.total)", summary(r.counts)])
        }
        var total: [CallState: Int] = [:]
        for r in report.runs { total.merge(r.counts, uniquingKeysWith: +) }
        if hiddenRuns > 0 { runs.add(["…", "\(hiddenRuns) more runs", "", "", "(pacer status --all)"]) }
        if report.runs.count > 1 {
            let finished = total.filter { $0.key.isTerminal }.values.reduce(0, +)
            runs.add(["TOTAL", "\(report.runs.count) runs", "", "\(finished)/\(total.values.reduce(0, +))", summary(total)])
        }
        var accounts = TextTable(["ACCOUNT", "PROVIDER", "LIMIT", "TOKENS", "RATE", "ETA", "STATE", "CALLS"])
        let (shownAccounts, hiddenAccounts) = busiest(report.accounts, \.counts)
        for a in shownAccounts {
            let b = buckets[a.account]
            let tokens = b.map { "\($0.capacity - $0.spent)/\($0.capacity) free" } ?? "-"
            let state = a.pausedReason.map { "paused: \($0)" }
                ?? b?.cooldownUntil.map { "cooling down until \(Timestamps.iso8601($0))" } ?? "active"
            let left = a.counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
            let rate = b.map { String(format: "%.1f/s", $0.rate) } ?? "-"
            let eta = left == 0 ? "-" : (b.flatMap { $0.rate > 0 ? DurationText.eta(seconds: Double(left) / $0.rate) : nil } ?? "?")
            accounts.add([a.account, a.provider.rawValue, a.limit.description, tokens, rate, eta, state, summary(a.counts)])
        }
        if hiddenAccounts > 0 {
            let paused = report.accounts.filter(\.paused).count
            accounts.add(["…", "\(hiddenAccounts) more", "", "", "", "", paused > 0 ? "\(paused) paused in all" : "",
                          "(pacer status --all)"])
        }
        let runText = report.runs.isEmpty ? "no runs queued\n" : runs.render()
        return runText + "\n" + (report.accounts.isEmpty ? "no accounts (see `pacer account add`)\n" : accounts.render())
    }
}
