import Foundation
import GRDB
import PacerCore
import PacerStorage

/// The SQLite implementation of `PacerStore`, on GRDB.
///
/// The database is opened in WAL mode (readers never block the writer), with a busy timeout so that several
/// `pacer` processes (overlapping cron launches) queue for the write lock instead of failing, and with foreign
/// keys enforced. `synchronous = NORMAL` is durable across a killed process, which is the failure Pacer must
/// survive; it trades only the last transactions on a power loss for a much cheaper commit.
///
/// **One clock.** Every instant the limiter and recovery compare (a spend, a settlement, a heartbeat, a lease, a
/// cool-down, a due time) is read from the host's steady clock (`HostClock`), which every process on the host
/// shares and no step of the wall clock moves; instants a caller computes from its own wall clock (a lease's end,
/// an answer's due time) are moved onto it by the difference at that moment, as PostgreSQL moves them onto its
/// server's clock. `ClockSource.caller` takes the caller's instants as they are, for tests that drive the store
/// with a manual clock.
public final class SQLiteStore: PacerStore {
    public enum ClockSource: Sendable {
        /// The host's steady clock: what Pacer uses.
        case host(HostClock)
        /// The instants the caller passes (tests with a manual clock).
        case caller
    }

    /// The GRDB pool, for tools that read the database directly (benchmarks, diagnostics).
    public let pool: DatabasePool
    public let path: String
    /// The store's clock: the host's steady clock at this boot's offset (nil with `.caller`). A runner on this host
    /// reads it as exactly as the store does.
    public let localClock: (@Sendable () -> Int64)?
    /// The host's wall clock, to move a caller's wall-clock instants onto `localClock`.
    private let wallClock: (@Sendable () -> Int64)?

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String, busyTimeoutSeconds: Double = 30, clock: ClockSource = .host(.system)) throws(StoreError) {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(busyTimeoutSeconds)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        try Self.makePrivate(path)
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            // Corrupt first, then the folder, then permissions: each has its own fix.
            let code = (error as? DatabaseError)?.resultCode
            let folder = (path as NSString).deletingLastPathComponent
            if code != .SQLITE_NOTADB && code != .SQLITE_CORRUPT {
                if access(folder.isEmpty ? "." : folder, F_OK) != 0 {
                    throw StoreError(.database, "cannot open database '\(path)': its folder '\(folder)' does not exist")
                }
                if access(path, W_OK) != 0 && errno != ENOENT || access(folder.isEmpty ? "." : folder, W_OK) != 0 {
                    throw StoreError(.readOnly, "cannot open database '\(path)': it or its folder cannot be written "
                                     + "(\(String(cString: strerror(errno)))); Pacer must be able to write both")
                }
            }
            throw StoreError(.database, "cannot open database '\(path)': \(Self.describe(error))")
        }
        try SchemaMigrator(migrations: EmbeddedMigrations.all).migrate(pool, path: path)
        guard case .host(let host) = clock else {
            (localClock, wallClock) = (nil, nil)
            return
        }
        let offset: Int64
        do { offset = try host.anchor(in: pool) } catch {
            throw StoreError(.database, "cannot open database '\(path)': \(Self.describe(error))")
        }
        localClock = { host.bootMilliseconds() + offset }
        wallClock = host.wallMilliseconds
    }

    public var keepsItsOwnClock: Bool { localClock != nil }

    /// "Now" on the store's clock, read when called (inside a transaction, once its lock is held). The caller's
    /// closure is always called, since runners note their own instant inside it.
    func now(_ caller: () -> Int64) -> Int64 {
        let theirs = caller()
        return localClock?() ?? theirs
    }

    /// Now on the store's clock (this host's wall clock with `.caller`), for tools that compare with its instants.
    public var currentTime: Int64 { now { HostClock.system.wallMilliseconds() } }

    /// The store's clock minus this host's wall clock, now: added to an instant a caller read from the wall
    /// clock, it moves the instant onto the store's clock (0 with `.caller`).
    var wallToSteady: Int64 {
        guard let localClock, let wallClock else { return 0 }
        return localClock() - wallClock()
    }

    /// The database holds account data (results, order ids): it is created readable by its owner only, and an
    /// existing one with wider permissions is narrowed. SQLite gives its `-wal` and `-shm` files the database
    /// file's permissions, so they follow.
    static func makePrivate(_ path: String) throws(StoreError) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        // O_NOFOLLOW: a dangling link is not followed to create its target.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 {
            defer { close(fd) }
            var info = stat()
            // A database owned by someone else stays as its owner set it (and works if we may write it).
            if fstat(fd, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o077 != 0, fchmod(fd, 0o600) != 0 {
                throw StoreError(.database, "cannot make '\(path)' private (mode 0600): \(String(cString: strerror(errno)))")
            }
        }
        // SQLite keeps its -wal and -shm beside the resolved file: narrow any left there by an older run.
        var resolved = path
        if let real = realpath(path, nil) {
            resolved = String(cString: real)
            free(real)
        }
        for suffix in ["-wal", "-shm"] { chmod(resolved + suffix, 0o600) }
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two processes never
    /// both read and then both try to upgrade to writing (which SQLite resolves by failing one of them).
    ///
    /// `durable` commits with `synchronous = FULL` (the WAL is fsynced before the commit returns) for the one
    /// transaction whose loss on a power cut would do harm: marking calls dispatched right before they are sent.
    /// Every other transaction keeps `NORMAL`, which survives a killed process and loses at most the latest
    /// commits on a power loss (an answer then recorded again as `abandoned`, or a call queued again).
    func writeImmediate<T>(durable: Bool = false, _ body: (Database) throws -> T) throws -> T {
        do { return try transaction(durable: durable, body) } catch let error as DatabaseError {
            throw plain(error) ?? error
        }
    }

    /// Whether the filesystem holding `path` has (next to) no room left for us.
    static func noRoom(beside path: String) -> Bool {
        var info = statvfs()
        let folder = (path as NSString).deletingLastPathComponent
        guard statvfs(folder.isEmpty ? "." : folder, &info) == 0 else { return false }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize) < 1 << 20
    }

    /// The failures an operator must act on, said plainly: a full disk, a read-only database.
    func plain(_ error: DatabaseError) -> StoreError? {
        // A full disk can also come back as a write, fsync or shared-memory I/O error (ENOSPC, a quota).
        if error.resultCode == .SQLITE_FULL || (error.resultCode == .SQLITE_IOERR && Self.noRoom(beside: path)) {
            return StoreError(.diskFull, "disk full: the database '\(path)' cannot grow; free space on its filesystem")
        }
        if error.resultCode == .SQLITE_READONLY {
            return StoreError(.readOnly, "the database '\(path)' is read-only: Pacer must be able to write it and its folder")
        }
        return nil
    }

    private func transaction<T>(durable: Bool, _ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            // Cached: a runner makes a durable commit every millisecond or two.
            if durable { try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute() }
            defer { if durable { try? db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute() } }
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    /// Maps any error to a `StoreError`, keeping the ones the store raised itself.
    func storeCall<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch let error as StoreError { throw error } catch {
            if let db = error as? DatabaseError, let plain = plain(db) { throw plain }
            throw StoreError(.database, "database error: \(Self.describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_FULL: return "disk full (free space on the database's filesystem)"
            case .SQLITE_READONLY: return "the database is read-only (Pacer must be able to write it and its folder)"
            default: return db.message ?? "\(db.resultCode)"
            }
        }
        return "\(error)"
    }
}
