import Foundation
import Logging

/// How Pacer's log lines look on stderr: `plain` for a person at a terminal (the message, its details, and the
/// level only when it matters), `records` for cron and files (swift-log's timestamped lines, the default off a
/// terminal), `json` for log collectors (one object per line). Chosen by `--log-format` (any command) or
/// `$PACER_LOG_FORMAT`; the level by `$PACER_LOG_LEVEL` (default `info`).
public enum LogFormat: String, Sendable, CaseIterable {
    case plain, records, json

    /// Bootstraps swift-log once, and returns `arguments` without `--log-format VALUE` (which any command takes).
    public static func bootstrap(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment)
        -> [String] {
        var rest = arguments
        var chosen = environment["PACER_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:))
        if let i = rest.firstIndex(where: { $0 == "--log-format" || $0.hasPrefix("--log-format=") }) {
            let value: String?
            if rest[i].hasPrefix("--log-format=") {
                value = String(rest[i].dropFirst("--log-format=".count))
                rest.remove(at: i)
            } else {
                value = i + 1 < rest.count ? rest[i + 1] : nil
                rest.removeSubrange(i..<min(i + 2, rest.count))
            }
            guard let value, let format = LogFormat(rawValue: value) else {
                FileHandle.standardError.write(Data("error: --log-format: expected plain, records or json\n".utf8))
                exit(64)
            }
            chosen = format
        }
        let format = chosen ?? (isatty(STDERR_FILENO) == 1 ? .plain : .records)
        let level = environment["PACER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch format {
            case .plain: handler = PlainLogHandler()
            case .records: handler = StreamLogHandler.standardError(label: label)
            case .json: handler = JSONLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
        return rest
    }
}

/// `message (key=value, ...)`, prefixed with the level from warnings up: what a person reads at a terminal.
struct PlainLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = event.level >= .warning ? "\(event.level): " : ""
        line += "\(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        if !all.isEmpty {
            line += " (" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// One JSON object per line: `{"time":ISO,"level":L,"label":L,"message":M,"metadata":{...}}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let object: [String: Any] = [
            "time": ISO8601DateFormatter().string(from: Date()), "level": event.level.rawValue, "label": label,
            "message": "\(event.message)", "metadata": all.mapValues { "\($0)" },
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}
