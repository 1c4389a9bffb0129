/// An account's limit: at most `count` weight units sent in any window of `windowMilliseconds`.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var windowMilliseconds: Int64

    public init(count: Int, windowMilliseconds: Int64) {
        precondition(count > 0 && windowMilliseconds > 0, "a rate limit needs a positive count and window")
        self.count = count
        self.windowMilliseconds = windowMilliseconds
    }

    /// Parses `COUNT/WINDOW`, e.g. `10/1s`, `4000/30s`, `5000/1m`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let count = Int(parts[0].trimmingWhitespace()), count > 0, count <= Self.maximumCount,
              let window = DurationText.milliseconds(String(parts[1]))
        else { return nil }
        self.init(count: count, windowMilliseconds: window)
    }

    /// How long a spent token stays spent: the window plus a safety margin (`defaultMargin` unless one is given).
    public func bucketWindowMilliseconds(margin: Int64? = nil) -> Int64 {
        windowMilliseconds + (margin ?? Self.defaultMargin(windowMilliseconds: windowMilliseconds))
    }

    /// The default safety margin for a window: 0.5% of it, at least 1 ms and at most 100 ms.
    ///
    /// Small, because the runner already holds each token from the moment the provider's answer arrives (the
    /// provider saw the request before that), so dispatch jitter is covered without it. What remains is a request
    /// still unanswered a whole window later; `pacer run --margin` widens the margin for slow or distant APIs.
    public static func defaultMargin(windowMilliseconds: Int64) -> Int64 {
        min(max(windowMilliseconds / 200, 1), 100)
    }

    public var description: String { "\(count)/\(DurationText.format(milliseconds: windowMilliseconds))" }

    /// The largest count accepted: far above any provider's, far from overflowing a sum of weights.
    public static let maximumCount = 1_000_000_000

    public static let expected = "COUNT/WINDOW with a count from 1 to \(maximumCount) and a window like 1s, 30s, 1m, "
        + "at most \(DurationText.maximumText) (e.g. 10/1s)"
}
