import PacerCore

/// The live display of `pacer run` on a terminal: one line per busy account (a bar, done/total, rate, ETA,
/// cool-downs or its pause) and a total, capped to the terminal's height. Pure: `RunProgress` draws it.
struct ProgressLines {
    struct Row: Equatable {
        var name: String
        var done: Int
        var left: Int
        /// Calls finished per second since the runner started.
        var rate: Double
        var paused: String?
        var coolDowns: Int = 0
    }

    static let barWidth = 20

    /// The lines to draw: the busiest accounts (most work left) that fit in `height` lines, a line for the rest,
    /// and the total; each cut to `width` columns.
    static func render(_ rows: [Row], width: Int, height: Int) -> [String] {
        let busy = rows.filter { $0.left > 0 || $0.paused != nil }
            .sorted { ($0.left, $1.name) > ($1.left, $0.name) }
        let room = max(1, height - 3) // the total, a line for the rest, and the cursor's own line
        var lines = busy.prefix(room).map(line)
        if busy.count > room { lines.append("… \(busy.count - room) more accounts with work") }
        let total = Row(name: "total", done: rows.reduce(0) { $0 + $1.done }, left: rows.reduce(0) { $0 + $1.left },
                        rate: rows.reduce(0) { $0 + $1.rate })
        lines.append(line(total))
        return lines.map { String($0.prefix(max(10, width - 1))) }
    }

    static func line(_ row: Row) -> String {
        let all = row.done + row.left
        let filled = all == 0 ? barWidth : row.done * barWidth / all
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled)
        var text = "\(pad(row.name, 18)) [\(bar)] \(row.done)/\(all) \(String(format: "%.1f", row.rate))/s"
        if let paused = row.paused {
            text += " paused: \(paused)"
        } else if row.left > 0 {
            text += row.rate > 0 ? " ETA \(DurationText.eta(seconds: Double(row.left) / row.rate))" : " ETA ?"
        }
        if row.coolDowns > 0 { text += " (\(row.coolDowns) cool-downs)" }
        return text
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
    }
}
