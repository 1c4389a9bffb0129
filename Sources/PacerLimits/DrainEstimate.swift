import PacerCore

/// How long an account's limit alone needs to send queued work, as the limiter runs it (docs/planning.md): the
/// bucket starts full, so the first window's worth leaves at once; each spent token comes back one window plus
/// the safety margin after its call's answer, so every later window's worth leaves that much (plus the answer's
/// latency) after the one before. Work is served in order: what is already queued first, then each new run.
/// A call never waits for a token it cannot use: a call heavier than the room left starts the next window.
///
/// Pure: no clock; the planner (`pacer plan`) and its table tests call it.
public enum DrainEstimate {
    /// Work of one run on one account: `calls` calls of `weight` units each.
    public struct Work: Sendable, Equatable {
        public var calls: Int
        public var weight: Int
        public init(calls: Int, weight: Int) {
            self.calls = calls
            self.weight = weight
        }
    }

    /// For each piece of `work`, in order, milliseconds from the first send until its last call is answered.
    /// A piece with no calls ends where the previous one did.
    ///
    /// - Parameters:
    ///   - marginMilliseconds: the runner's `--margin` (`nil`: the default for the window).
    ///   - latencyMilliseconds: how long an answer takes; tokens come back a window after it.
    public static func finishTimes(_ work: [Work], limit: RateLimit, marginMilliseconds: Int64? = nil,
                                   latencyMilliseconds: Int64 = 0) -> [Int64] {
        let cycle = limit.bucketWindowMilliseconds(margin: marginMilliseconds) + latencyMilliseconds
        var window: Int64 = 0 // the window the next call can leave in
        var room = limit.count // units left in that window
        var sentAny = false
        var ends: [Int64] = []
        for piece in work {
            let weight = max(1, min(piece.weight, limit.count))
            var left = piece.calls
            if left > 0 {
                if room < weight { window += 1; room = limit.count }
                let now = min(left, room / weight)
                left -= now
                room -= now * weight
                if left > 0 {
                    // Every further window holds `perWindow` calls; the last holds what remains.
                    let perWindow = limit.count / weight
                    let windows = (left + perWindow - 1) / perWindow
                    window += Int64(windows)
                    room = limit.count - (left - (windows - 1) * perWindow) * weight
                }
                sentAny = true
            }
            ends.append(sentAny ? window * cycle + latencyMilliseconds : 0)
        }
        return ends
    }
}
