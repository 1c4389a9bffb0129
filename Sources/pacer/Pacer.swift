import Foundation
import Logging
import PacerCLI

/// Everything lives in PacerCLI, so tests drive the same code the binary runs. Logs go to stderr at
/// `$PACER_LOG_LEVEL` (default `info`); stdout is kept for results and `--json`.
@main
enum Pacer {
    static func main() async {
        MallocArenas.limit()
        let level = ProcessInfo.processInfo.environment["PACER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        await PacerCommand.main()
    }
}
