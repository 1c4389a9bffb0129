import ArgumentParser
import Foundation
import PacerPostgres
import PacerStorage
import PacerSQLite

/// `--db PATH|URL`, shared by every subcommand: default `$PACER_DB`, else `./pacer.sqlite`. A path (or
/// `sqlite:PATH`) is an SQLite database (one machine); `postgres://USER@HOST:PORT/DB` is a PostgreSQL database shared by several machines
/// (password from `PGPASSWORD` or `~/.pgpass`, never a flag; `?sslmode=` as libpq has it).
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The database: an SQLite file, or postgres://USER@HOST:PORT/DB (default: $PACER_DB, else ./pacer.sqlite).",
        valueName: "path-or-url"))
    var db: String?

    var path: String { db ?? ProcessInfo.processInfo.environment["PACER_DB"] ?? "./pacer.sqlite" }

    func open() throws -> any PacerStore {
        try Self.open(path)
    }

    static func open(_ location: String) throws -> any PacerStore {
        if PostgresLocation.isURL(location) { return try PostgresStore(url: location) }
        return try SQLiteStore(path: location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location)
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
