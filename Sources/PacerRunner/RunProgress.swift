import Foundation
import Logging
import PacerCore
import PacerStorage
import Synchronization

/// Progress for people: per account, done/total, the current rate, an ETA and cool-downs. On a terminal it
/// redraws a line per busy account and a total every second on stderr (`ProgressLines`, capped to the
/// terminal's height); otherwise it logs one line every ten seconds.
final class RunProgress: Sendable {
    private struct State {
        var finished: [String: Int] = [:]
        var rateLimited: [String: Int] = [:]
        var lookedUp: [String: Int] = [:]
        var started: Int64?
        var lastReport: Int64 = 0
        /// Lines drawn on the terminal last time, to draw over.
        var drawn = 0
    }

    private let state = Mutex(State())
    /// Accounts named in a progress line; the rest are summed in the total.
    static let accountsShown = 5
    private let terminal = isatty(STDERR_FILENO) == 1

    func noteFinished(account: String, state callState: CallState) {
        guard callState.isTerminal else { return }
        state.withLock { $0.finished[account, default: 0] += 1 }
    }

    func noteRateLimit(account: String) { state.withLock { $0.rateLimited[account, default: 0] += 1 } }
    func noteLookup(account: String) { state.withLock { $0.lookedUp[account, default: 0] += 1 } }
    /// Per account: refusals answered (each cools the account down) and orders looked up by key.
    var counts: (coolDowns: [String: Int], lookups: [String: Int]) { state.withLock { ($0.rateLimited, $0.lookedUp) } }
    /// Reports when due; returns the queue depth per account it read (for the metrics), or nil when not due.
    /// `snapshot` is read only when a report is due (off the cooperative pool: the store's calls block).
    @discardableResult
    func report(snapshot read: () async throws -> QueueSnapshot, now: Int64, logger: Logger,
                final: Bool = false) async -> [String: Int]? {
        let interval: Int64 = terminal ? 1_000 : 10_000
        // Rates are averages since this runner started: steady enough to base an ETA on.
        let (due, finished, elapsed, rateLimited) = state.withLock { s -> (Bool, [String: Int], Int64, [String: Int]) in
            let started = s.started ?? now
            s.started = started
            let due = final || now - s.lastReport >= interval
            if due { s.lastReport = now }
            return (due, s.finished, now - started, s.rateLimited)
        }
        guard due, let snapshot = try? await read() else { return nil }
        let names = Set(snapshot.unfinished.keys).union(finished.keys).sorted()
        let depths = Dictionary(uniqueKeysWithValues: names.map { ($0, snapshot.unfinished[$0] ?? 0) })
        guard !names.isEmpty else { return depths }
        // One line however many accounts: the busiest few (most work left), then the total.
        func describe(_ name: String, done: Int, left: Int) -> String {
            let rate = elapsed > 0 ? Double(done) * 1000 / Double(elapsed) : 0
            var text = "\(name) \(done) done, \(left) left, \(String(format: "%.1f", rate))/s"
            if rate > 0 && left > 0 { text += ", ETA \(Int(Double(left) / rate))s" }
            if let reason = snapshot.paused[name] { text += " [paused: \(reason)]" }
            if let n = rateLimited[name], n > 0 { text += " [\(n) cool-downs]" }
            return text
        }
        let busiest = names.sorted { (snapshot.unfinished[$0] ?? 0, $1) > (snapshot.unfinished[$1] ?? 0, $0) }
        var parts = busiest.prefix(Self.accountsShown).map {
            describe($0, done: finished[$0] ?? 0, left: snapshot.unfinished[$0] ?? 0)
        }
        if names.count > Self.accountsShown {
            parts.append("+\(names.count - Self.accountsShown) more accounts")
        }
        if names.count > 1 {
            parts.append(describe("total", done: finished.values.reduce(0, +), left: snapshot.unfinished.values.reduce(0, +)))
        }
        if terminal {
            let rows = names.map { name in
                ProgressLines.Row(name: name, done: finished[name] ?? 0, left: snapshot.unfinished[name] ?? 0,
                                  rate: elapsed > 0 ? Double(finished[name] ?? 0) * 1000 / Double(elapsed) : 0,
                                  paused: snapshot.paused[name], coolDowns: rateLimited[name] ?? 0)
            }
            let (width, height) = Self.terminalSize()
            draw(ProgressLines.render(rows, width: width, height: height))
        } else {
            logger.info("\("pacer run: " + parts.joined(separator: " | "))")
        }
        return depths
    }

    /// Draws `lines` over the ones drawn last time (cursor up, each line cleared, anything below cleared).
    private func draw(_ lines: [String]) {
        let previous = state.withLock { s -> Int in
            defer { s.drawn = lines.count }
            return s.drawn
        }
        var out = previous > 0 ? "\u{1B}[\(previous)F" : "\r"
        for line in lines { out += line + "\u{1B}[K\n" }
        out += "\u{1B}[J"
        FileHandle.standardError.write(Data(out.utf8))
    }

    /// The terminal's columns and rows (80 x 24 when it does not say).
    static func terminalSize() -> (width: Int, height: Int) {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
