import Foundation
import Logging
import PacerCLI

/// Everything lives in PacerCLI, so tests drive the same code the binary runs. Logs go to stderr (`LogFormat`:
/// plain lines on a terminal, records elsewhere, `--log-format json`); stdout is kept for results and `--json`.
@main
enum Pacer {
    static func main() async {
        MallocArenas.limit()
        let arguments = LogFormat.bootstrap(Array(CommandLine.arguments.dropFirst()))
        await PacerCommand.main(arguments)
    }
}
