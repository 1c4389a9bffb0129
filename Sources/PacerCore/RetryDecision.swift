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
    /// The provider answered "duplicate key" to a keyed call: look the order up by its key now (a fresh count of
    /// tries), so the call's result holds the order an earlier try placed.
    case lookUp
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
    ///   - idempotent: safe to send again: an idempotent call, or a keyed one (the provider refuses a second copy of
    ///     its key).
    ///   - mayHaveExecuted: the answer can come after the provider acted (a 5xx, a 408, an internal error code):
    ///     a call that is not safe to send again ends `uncertain` instead.
    ///   - canLookUp: a keyed call whose provider can look orders up by key: a duplicate answer leads to `lookUp`.
    public static func next(_ kind: Kind, code: String?, attemptsSoFar: Int, previousWasClock: Bool,
                            idempotent: Bool, policy: RetryPolicy, retryAfterMilliseconds: Int64?, now: Int64,
                            jitter: Double, mayHaveExecuted: Bool = false, canLookUp: Bool = false) -> NextStep {
        func backoff() -> NextStep {
            let attempts = attemptsSoFar + 1
            guard attempts < policy.attempts else { return .fail(.dead) }
            let delay = max(policy.backoffMilliseconds(afterFailedAttempts: attempts, jitter: jitter),
                            retryAfterMilliseconds ?? 0)
            return .retry(at: now + delay, countsAsAttempt: true)
        }
        switch kind {
        case .ok: return .succeed
        case .duplicate: return canLookUp ? .lookUp : .fail(.duplicate)
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

    /// The next step after a try that looked up a keyed call's order (the provider had answered "duplicate key").
    ///
    /// Found: the call ends `duplicate`, done by an earlier try, with the order as its result. A refusal (no such
    /// order) leaves the duplicate answer unconfirmed: the call fails, for a person to look at. A lookup is a read,
    /// so failures without an answer are retried; when the tries run out the call still ends `duplicate`, which is
    /// what the provider said, only without the order. Rate limits, clock and auth errors act as on any call.
    public static func afterLookup(_ kind: Kind, code: String?, attemptsSoFar: Int, previousWasClock: Bool,
                                   policy: RetryPolicy, retryAfterMilliseconds: Int64?, now: Int64,
                                   jitter: Double) -> NextStep {
        switch kind {
        case .ok, .duplicate: return .fail(.duplicate)
        case .permanent: return .fail(.failed)
        case .rateLimited, .clock, .auth, .transient, .notSent, .unknownOutcome:
            let step = next(kind, code: code, attemptsSoFar: attemptsSoFar, previousWasClock: previousWasClock,
                            idempotent: true, policy: policy, retryAfterMilliseconds: retryAfterMilliseconds,
                            now: now, jitter: jitter)
            if case .fail(.dead) = step { return .fail(.duplicate) }
            return step
        }
    }
}
