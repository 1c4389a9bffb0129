import Foundation

/// How transient failures are retried: at most `attempts` tries in all, waiting an exponentially growing, jittered
/// delay between `minimumBackoffMilliseconds` and `maximumBackoffMilliseconds`. Rate-limit deferrals never count.
public struct RetryPolicy: Sendable, Equatable {
    public var attempts: Int
    public var minimumBackoffMilliseconds: Int64
    public var maximumBackoffMilliseconds: Int64

    public init(attempts: Int, minimumBackoffMilliseconds: Int64, maximumBackoffMilliseconds: Int64) {
        self.attempts = attempts
        self.minimumBackoffMilliseconds = minimumBackoffMilliseconds
        self.maximumBackoffMilliseconds = maximumBackoffMilliseconds
    }

    /// Five tries, 1 s to 5 min: enough to ride out a provider's short outage without hammering it.
    public static let `default` = RetryPolicy(attempts: 5, minimumBackoffMilliseconds: 1_000,
                                              maximumBackoffMilliseconds: 300_000)

    /// Parses a backoff range `MIN..MAX` (`1s..5m`) into milliseconds.
    public static func parseBackoff(_ text: String) -> (min: Int64, max: Int64)? {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2,
              let lo = DurationText.milliseconds(parts[0]), let hi = DurationText.milliseconds(parts[1]), lo <= hi
        else { return nil }
        return (lo, hi)
    }

    /// The wait before try number `failedAttempts + 1`, given a uniform random `jitter` in 0..<1.
    ///
    /// "Equal jitter": half the exponential step is kept, half is random, so retries of many calls spread out
    /// while each still waits at least half its step; the result is clamped to the policy's bounds.
    public func backoffMilliseconds(afterFailedAttempts failedAttempts: Int, jitter: Double) -> Int64 {
        let exponent = min(max(failedAttempts - 1, 0), 40)
        let (raw, overflow) = minimumBackoffMilliseconds.multipliedReportingOverflow(by: Int64(1) << exponent)
        let step = overflow ? maximumBackoffMilliseconds : min(raw, maximumBackoffMilliseconds)
        let half = Double(step) / 2
        let delay = Int64(half + half * min(max(jitter, 0), 1))
        return min(max(delay, minimumBackoffMilliseconds), maximumBackoffMilliseconds)
    }

    public static let expectedBackoff = "MIN..MAX durations with MIN <= MAX, like 1s..5m, each at most \(DurationText.maximumText)"
}
