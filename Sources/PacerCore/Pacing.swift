/// How hard an account is driven after the provider pushes back: a cool-down, and a learned ceiling below the
/// configured limit that recovers slowly.
///
/// When a provider answers "rate-limited" although the bucket allowed the call, its real limit is lower than the
/// one configured (or another client shares the key). The ceiling drops to 90% of what was in flight over the last
/// window (multiplicative decrease), and the whole account waits out the cool-down. It then grows back by 5% of
/// `N` for every quiet 10 windows (additive increase), never above `N`. With a real limit `R < N` the pace settles
/// just under `R`: a rejection happens at most once per recovery climb, instead of on every window.
public struct Pacing: Sendable, Equatable {
    /// The configured limit count (`N`).
    public var configured: Int
    /// The learned ceiling, `nil` when none has been learned (full speed).
    public var ceiling: Int?
    /// When the ceiling was last lowered or raised.
    public var ceilingAt: Int64
    /// No sends before this instant.
    public var cooldownUntil: Int64

    public init(configured: Int, ceiling: Int? = nil, ceilingAt: Int64 = 0, cooldownUntil: Int64 = 0) {
        self.configured = configured
        self.ceiling = ceiling
        self.ceilingAt = ceilingAt
        self.cooldownUntil = cooldownUntil
    }

    static let decrease = 0.9
    static let recoveryStepFraction = 0.05
    static let recoveryWindows: Int64 = 10

    /// The bucket capacity to use at `now`, with the recovery since the last change applied.
    public func capacity(now: Int64, windowMilliseconds: Int64) -> Int {
        guard let ceiling else { return configured }
        let quietWindows = max(0, now - ceilingAt) / max(windowMilliseconds, 1)
        let steps = Int(quietWindows / Self.recoveryWindows)
        let step = max(1, Int(Double(configured) * Self.recoveryStepFraction))
        return min(configured, ceiling + steps * step)
    }

    /// A rate-limit answer at `now`: `sentInWindow` is the weight we had sent over the last window (including the
    /// refused call); `retryAfter` is the provider's reset hint, if it gave one.
    public mutating func rateLimited(now: Int64, sentInWindow: Int, retryAfterMilliseconds: Int64?,
                                     windowMilliseconds: Int64) {
        let current = capacity(now: now, windowMilliseconds: windowMilliseconds)
        let observed = max(1, Int(Double(max(sentInWindow - 1, 1)) * Self.decrease))
        ceiling = max(1, min(current, observed))
        ceilingAt = now
        cooldownUntil = max(cooldownUntil, now + (retryAfterMilliseconds ?? windowMilliseconds))
    }
}
