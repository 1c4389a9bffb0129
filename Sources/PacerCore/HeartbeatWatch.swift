/// Decides when another runner is dead from its heartbeats, as one runner sees them.
///
/// Comparing a heartbeat's age with the clock is not enough: when a long transaction (a multi-million-call
/// enqueue) holds the database's write lock, every runner's heartbeat waits behind it, and whoever gets the lock
/// first would find all the others "stale" although they are alive and merely queued. So a runner is judged dead
/// only from what this runner itself saw: its heartbeat value did not change across at least `looks` of our own
/// successful looks (each one a transaction that got the lock), spanning at least `staleAfter` of our time. A
/// runner that waited for the same lock writes its heartbeat right after ours, so our next look sees it move.
///
/// Staleness only builds up over *continuous* observation: when our own previous look is older than
/// `maxLookGap` (we were paused, or our look itself waited for the lock), every sighting starts again. So a
/// runner that wakes from a pause (SIGSTOP, a sleeping laptop, a frozen process group) condemns nobody on waking,
/// and looks taken before a long lock wait never count towards a verdict after it.
///
/// `now` should come from a monotonic clock (our looks' spacing, not the calendar, is what matters), so a
/// wall-clock step cannot make a heartbeat look stale. Pure: `now` is always passed in.
public struct HeartbeatWatch: Sendable {
    public var staleAfterMilliseconds: Int64
    /// Looks after the first sighting during which the heartbeat must stay still.
    public var looks: Int
    /// A gap between two of our looks longer than this breaks the observation.
    public var maxLookGapMilliseconds: Int64
    private var lastLook: Int64?

    struct Sighting: Sendable {
        var heartbeat: Int64
        var firstSeenAt: Int64
        var stillLooks: Int
    }

    private var seen: [String: Sighting] = [:]

    public init(staleAfterMilliseconds: Int64, looks: Int = 2, maxLookGapMilliseconds: Int64 = 2_500) {
        self.staleAfterMilliseconds = staleAfterMilliseconds
        self.looks = looks
        self.maxLookGapMilliseconds = maxLookGapMilliseconds
    }

    /// Starts one look (one recovery transaction) at `now`; a look that comes too long after the previous one
    /// forgets every sighting.
    public mutating func beginLook(now: Int64) {
        if let lastLook, now - lastLook > maxLookGapMilliseconds { seen.removeAll() }
        lastLook = now
    }

    /// Records `runner`'s heartbeat as seen in the current look at `now`, and says whether it is dead.
    public mutating func isDead(_ runner: String, heartbeat: Int64, now: Int64) -> Bool {
        guard var sighting = seen[runner], sighting.heartbeat == heartbeat else {
            seen[runner] = Sighting(heartbeat: heartbeat, firstSeenAt: now, stillLooks: 0)
            return false
        }
        sighting.stillLooks += 1
        seen[runner] = sighting
        return sighting.stillLooks >= looks && now - sighting.firstSeenAt >= staleAfterMilliseconds
    }

    /// Forgets runners that are no longer registered, so the watch stays as small as the set of live runners.
    public mutating func keepOnly(_ runners: Set<String>) {
        seen = seen.filter { runners.contains($0.key) }
    }

    public var watched: Int { seen.count }
}
