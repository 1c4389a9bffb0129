import ArgumentParser
import Foundation
import PacerStore

/// `--db PATH`, shared by every subcommand: default `$PACER_DB`, else `./pacer.sqlite`.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The database file (default: $PACER_DB, else ./pacer.sqlite).")
    var db: String?

    var path: String { db ?? ProcessInfo.processInfo.environment["PACER_DB"] ?? "./pacer.sqlite" }

    func open() throws -> SQLiteStore {
        try SQLiteStore(path: path)
    }
}

/// A one-line failure for the user; ArgumentParser prints it on stderr and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum WallClock {
    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}

/// A line for the user on stderr (warnings), keeping stdout for results and `--json`.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
