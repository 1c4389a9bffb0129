/// A store that tells runners when work may have appeared — calls enqueued, put back for a retry, or recovered
/// from a dead runner — so that they look for due calls when told (and at due instants they already know of)
/// instead of polling. PostgreSQL has it (`LISTEN`/`NOTIFY`); SQLite does not, and its runners poll one cheap
/// read per turn.
public protocol WorkNotifying: Sendable {
    /// Calls `onWork` (on any thread) whenever any process signals work, until the returned watch is stopped or
    /// its connection is lost (`isWatching` turns false; the runner then falls back to polling and watches anew).
    func watchForWork(_ onWork: @escaping @Sendable () -> Void) throws -> any WorkWatch
    /// Whether watching can work here (not behind a pooler in transaction mode, where a `LISTEN` is lost with its
    /// server session): when not, runners poll.
    var canWatchForWork: Bool { get }
}

extension WorkNotifying {
    public var canWatchForWork: Bool { true }
}

public protocol WorkWatch: Sendable {
    var isWatching: Bool { get }
    func stop()
}
