import DequeModule

/// A strict sliding window: at most `limit` weight admitted in any interval of `windowMilliseconds`.
///
/// It keeps the time and weight of every admission still inside the window, so the check is exact (unlike a
/// token bucket, which lets 2N through across a window boundary). Pure: the time is passed in.
struct SlidingWindowLog: Sendable {
    let limit: Int
    let windowMilliseconds: Int64
    private(set) var admitted: Deque<(at: Int64, weight: Int)> = []
    /// The weight admitted and still inside the window.
    private(set) var count = 0

    init(limit: Int, windowMilliseconds: Int64) {
        self.limit = limit
        self.windowMilliseconds = windowMilliseconds
    }

    /// Drops admissions that have left the window ending at `now` (one at `t` still counts while `now - t < W`).
    mutating func expire(now: Int64) {
        while let first = admitted.first, now - first.at >= windowMilliseconds {
            count -= first.weight
            admitted.removeFirst()
        }
    }

    /// Whether `weight` more fits at `now`.
    mutating func fits(now: Int64, weight: Int = 1) -> Bool {
        expire(now: now)
        return count + weight <= limit
    }

    /// Admits `weight` at `now` if the window has room; returns whether it did.
    mutating func admit(now: Int64, weight: Int = 1) -> Bool {
        guard fits(now: now, weight: weight) else { return false }
        admitted.append((now, weight))
        count += weight
        return true
    }

    /// Records a request unconditionally (for counting what was sent, admitted or not); returns the weight in the
    /// window including it.
    mutating func record(now: Int64, weight: Int = 1) -> Int {
        expire(now: now)
        admitted.append((now, weight))
        count += weight
        return count
    }

    /// Milliseconds until the oldest admission leaves the window (0 when there is room now).
    func resetMilliseconds(now: Int64) -> Int64 {
        guard count >= limit, let first = admitted.first else { return 0 }
        return max(0, first.at + windowMilliseconds - now)
    }

    /// Milliseconds until the oldest admission leaves (a whole window when none is in it), for quota headers.
    func resetsIn(now: Int64) -> Int64 {
        admitted.first.map { max(0, $0.at + windowMilliseconds - now) } ?? windowMilliseconds
    }
}
