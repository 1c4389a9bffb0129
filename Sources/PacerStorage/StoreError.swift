/// Why the store refused or failed. Messages are one line and never contain secrets (the store holds none).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case newerSchema
        case accountExists
        case unknownAccount
        case accountInUse
        /// No shared pool of that name, or one that accounts still name (`pacer pool remove`).
        case unknownPool
        case poolInUse
        case database
        /// The runner is not registered any more: another runner found it dead (it was paused, or its heartbeat
        /// stopped) and gave its calls to others. It must not send anything and must register again.
        case runnerDeclaredDead
        /// The database's filesystem is full: nothing can be written until space is freed.
        case diskFull
        /// The database (or its folder) cannot be written.
        case readOnly
        /// No run or call with that id.
        case notFound
        /// The request does not fit the run's state now (a retry of a run that is still running).
        case conflict
        /// The request itself is wrong (a state that cannot be retried).
        case invalid
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

extension StoreError {
    /// A database migrated beyond what this build knows: refused, since an older runner that ignores a newer
    /// schema's rules (a limit it cannot read) could overspend. Names both sides' schema versions.
    public static func newerSchema(database: String, unknown: [String], known: [String]) -> StoreError {
        StoreError(.newerSchema, "database \(database) was written by a newer Pacer: its schema is at migration "
                   + "\(unknown.sorted().last ?? "?") (this pacer does not know \(unknown.sorted().joined(separator: ", "))), "
                   + "and this pacer's schema ends at \(known.last ?? "none"); upgrade pacer on this machine, since "
                   + "every runner sharing a database must know its schema")
    }
}
