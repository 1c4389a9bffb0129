import DequeModule

/// A strict sliding window: at most `limit` admissions in any interval of `windowMilliseconds`.
///
/// It keeps the time of every admission still inside the window, so the check is exact (unlike a token bucket,
/// which lets 2N through across a window boundary). Pure: the time is passed in.
struct SlidingWindowLog: Sendable {
    let limit: Int
    let windowMilliseconds: Int64
    private(set) var admitted: Deque<Int64> = []

    init(limit: Int, windowMilliseconds: Int64) {
        self.limit = limit
        self.windowMilliseconds = windowMilliseconds
    }

    /// Drops admissions that have left the window ending at `now` (an admission at `t` counts for `(t-W, t]`...
    /// precisely: it still counts at `now` while `now - t < W`).
    mutating func expire(now: Int64) {
        while let first = admitted.first, now - first >= windowMilliseconds { admitted.removeFirst() }
    }

    /// Admits one request at `now` if the window has room; returns whether it did.
    mutating func admit(now: Int64) -> Bool {
        expire(now: now)
        guard admitted.count < limit else { return false }
        admitted.append(now)
        return true
    }

    /// Records a request unconditionally (for counting what was sent, admitted or not); returns the count in the
    /// window including it.
    mutating func record(now: Int64) -> Int {
        expire(now: now)
        admitted.append(now)
        return admitted.count
    }

    /// Milliseconds until the oldest admission leaves the window (0 when there is room now).
    func resetMilliseconds(now: Int64) -> Int64 {
        guard admitted.count >= limit, let first = admitted.first else { return 0 }
        return max(0, first + windowMilliseconds - now)
    }

    var count: Int { admitted.count }
}
