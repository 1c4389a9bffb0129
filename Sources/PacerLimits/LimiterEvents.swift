import PacerCore

/// The limiter's other events, each one decision over what the store read (the spend is `SpendBatch`). Pure:
/// `now` and the rows are passed in; the store only reads and writes them (`Limiter.swift` in PacerStorage).
extension Pacing {
    /// A rate-limit answer, weighed with what the store's settled answers say the provider accepted lately
    /// (`settledAccepted`, read once a burst: `nil` when this refusal is of the burst already weighed) beside what
    /// the reporter saw itself (`accepted`).
    public mutating func refused(now: Int64, sentAt: Int64, fill: Int, weight: Int, retryAfterMilliseconds: Int64?,
                                 windowMilliseconds: Int64, accepted: AcceptedPeak.Evidence?,
                                 settledAccepted: [(at: Int64, weight: Int)]?, call: Int64) {
        var accepted = accepted
        if let settledAccepted {
            var peak = AcceptedPeak()
            for spend in settledAccepted {
                peak.accepted(weight: spend.weight, at: spend.at, windowMilliseconds: windowMilliseconds)
            }
            // Only the peak: a settled spend's instant is its answer's, so which window it was sent in is not
            // known (the caller's own count of the refused call's window is by send).
            let settled = peak.evidence(sentAt: sentAt, windowMilliseconds: windowMilliseconds)
            accepted = .merged(accepted, settled.map { AcceptedPeak.Evidence(peak: $0.peak, window: 0) })
        }
        rateLimited(now: now, sentAt: sentAt, fill: fill, weight: weight, retryAfterMilliseconds: retryAfterMilliseconds,
                    windowMilliseconds: windowMilliseconds, accepted: accepted, call: call)
    }

    /// The provider stated its limit and what is left (KuCoin's `gw-ratelimit-*` headers), while we hold `held`.
    /// A stated limit below the configured one becomes `reportedLimit` at once (`changed`). When the provider has
    /// less left than we think, someone else spends from the same quota: `hold` is a settled spend of the
    /// difference, made `window - reset` ago so that it returns when the provider's window resets.
    public mutating func quota(_ quota: ProviderQuota, held: Int, now: Int64, windowMilliseconds: Int64)
        -> (changed: Bool, hold: (at: Int64, weight: Int)?) {
        var changed = false
        if let limit = quota.limit, (limit >= configured ? nil : limit) != reportedLimit {
            reported(limit: limit)
            changed = true
        }
        guard let remaining = quota.remaining, let reset = quota.resetMilliseconds, reset > 0 else { return (changed, nil) }
        let ours = capacity(now: now, windowMilliseconds: windowMilliseconds) - held
        guard remaining < ours else { return (changed, nil) }
        return (changed, (now + min(reset, windowMilliseconds) - windowMilliseconds, ours - remaining))
    }

    /// Whether one call of `weight` outside the queue (`pacer call`) may be sent at `now`, given the account's
    /// spends still holding tokens: not while cooling down, else as the window's budget allows.
    public func admits(weight: Int, now: Int64, windowMilliseconds: Int64, log: [WindowBudget.Spend]) -> WindowBudget.Decision {
        if cooldownUntil > now { return .wait(until: cooldownUntil) }
        return WindowBudget(capacity: capacity(now: now, windowMilliseconds: windowMilliseconds),
                            windowMilliseconds: windowMilliseconds).decide(weight: weight, now: now, log: log)
    }
}
