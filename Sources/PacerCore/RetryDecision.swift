/// What to do with a call after one try, decided from the answer's classification alone. Pure: `now` and the
/// jitter are passed in, so every branch is table-tested.
public enum NextStep: Sendable, Equatable {
    case succeed
    /// Try again at this instant. `countsAsAttempt` is false for rate-limit deferrals and a first clock error.
    case retry(at: Int64, countsAsAttempt: Bool)
    /// Re-sign with a corrected clock and send again at once (the first clock error of this call).
    case resignNow
    /// Terminal states.
    case fail(CallState)
    /// Fail the call and pause its account with this reason.
    case failAndPause(reason: String)
}

public enum RetryDecision {
    public enum Kind: Sendable, Equatable {
        case ok, rateLimited, clock(escalatesToAuth: Bool), transient, auth, permanent, duplicate
        /// No answer: the request failed before the provider could have seen it (connection refused).
        case notSent
        /// No answer, and the request may have reached the provider (timeout, connection lost mid-way).
        case unknownOutcome

        /// The word stored in `attempts.classification`.
        public var name: String {
            switch self {
            case .ok: return ClassificationName.ok.rawValue
            case .rateLimited: return ClassificationName.rateLimited.rawValue
            case .clock: return ClassificationName.clock.rawValue
            case .transient: return ClassificationName.transient.rawValue
            case .auth: return ClassificationName.auth.rawValue
            case .permanent: return ClassificationName.permanent.rawValue
            case .duplicate: return ClassificationName.duplicate.rawValue
            case .notSent: return "not-sent"
            case .unknownOutcome: return "no-answer"
            }
        }
    }

    /// - Parameters:
    ///   - attemptsSoFar: tries that counted before this one.
    ///   - previousWasClock: the call's previous try was already answered with a clock error.
    ///   - retryAfterMilliseconds: the provider's hint (rate-limit reset, long backoff).
    ///   - jitter: uniform in 0..<1.
    ///   - mayHaveExecuted: the answer can come after the provider acted (a 5xx, a 408, an internal error code):
    ///     a non-idempotent call that got one ends `uncertain` instead of being sent again.
    public static func next(_ kind: Kind, code: String?, attemptsSoFar: Int, previousWasClock: Bool,
                            idempotent: Bool, policy: RetryPolicy, retryAfterMilliseconds: Int64?, now: Int64,
                            jitter: Double, mayHaveExecuted: Bool = false) -> NextStep {
        func backoff() -> NextStep {
            let attempts = attemptsSoFar + 1
            guard attempts < policy.attempts else { return .fail(.dead) }
            let delay = max(policy.backoffMilliseconds(afterFailedAttempts: attempts, jitter: jitter),
                            retryAfterMilliseconds ?? 0)
            return .retry(at: now + delay, countsAsAttempt: true)
        }
        switch kind {
        case .ok: return .succeed
        case .duplicate: return .fail(.duplicate)
        case .permanent: return .fail(.failed)
        case .auth: return .failAndPause(reason: "auth error\(code.map { " \($0)" } ?? "") from the provider")
        case .rateLimited: return .retry(at: now + (retryAfterMilliseconds ?? 0), countsAsAttempt: false)
        case .clock(let escalates):
            if !previousWasClock { return .resignNow }
            // Still refused after correcting the clock: the key or secret is wrong, or the clock keeps drifting.
            return escalates ? .failAndPause(reason: "signature refused\(code.map { " (\($0))" } ?? "") after a clock correction") : backoff()
        case .transient: return mayHaveExecuted && !idempotent ? .fail(.uncertain) : backoff()
        case .notSent: return backoff()
        case .unknownOutcome: return idempotent ? backoff() : .fail(.uncertain)
        }
    }
}
