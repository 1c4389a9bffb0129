import ArgumentParser
import Foundation
import PacerPostgres
import PacerStoreMove
import PacerRunner
import PacerStorage

/// `pacer migrate-store --from PATH --to postgres://...`: moves accounts, schedules and unfinished runs from an
/// SQLite database to PostgreSQL (see `StoreMover`).
struct MigrateStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Move accounts, schedules and unfinished runs from an SQLite database to PostgreSQL.",
        discussion: """
            Stop every `pacer run` on the SQLite database first. Its accounts are paused there ("moved to ..."), so \
            a runner started on it later sends nothing; finished runs and the per-try history stay in the file. \
            The copy is one transaction: it all lands or nothing does.
            """)

    @Option(help: "The SQLite database to move from.") var from: String
    @Option(help: "The PostgreSQL database to move to: postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass).")
    var to: String

    func run() throws {
        guard PostgresLocation.isURL(to) else { throw CLIError("--to '\(to)': expected postgres://USER@HOST:PORT/DB") }
        let mover = try StoreMover(from: from, to: to)
        // A registered runner is gone when its process no longer exists on this host, or its heartbeat is a
        // minute old (another host's, or a process killed long ago).
        let now = mover.sourceNow // the instants in the SQLite file are on the host's steady clock, not wall time
        let summary = try mover.move(now: now) { record in
            Runner.isGoneLocally(record.identity) || now - record.heartbeatAt > 60_000
        }
        print("""
            moved \(summary.accounts) account(s), \(summary.schedules) schedule(s), \(summary.runs) unfinished run(s) \
            with \(summary.calls) call(s) (\(summary.unfinishedCalls) still to do) and \(summary.spends) recent \
            limiter spend(s) to \(try PostgresLocation(url: to).display)
            the accounts in \(from) are now paused; run `pacer run --db \(to)` from now on
            """)
    }
}
