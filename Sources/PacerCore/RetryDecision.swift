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
    /// A keyed call: look its order up by its key (see `LookupReason`); a probe waits `LookupReason.settle` first.
    case lookUp(LookupReason)
    /// A lookup after an ambiguous answer found no order: the earlier try did not place it, send the order again now.
    case sendAgain
}

/// Why a keyed call's next try looks its order up by key instead of placing it.
public enum LookupReason: Int, Sendable, Equatable {
    /// The provider answered "duplicate key": confirm that an order with this key exists, and fetch it.
    case confirm = 1
    /// The last try may have placed the order (no answer, a 5xx, its runner died): find out before sending it
    /// again. A provider's dedupe can be narrower than its documents say (public reports have KuCoin keep
    /// `clientOid` unique among *active* orders only), so where a lookup exists Pacer asks rather than relying on
    /// the provider to refuse the second copy.
    case probe = 2

    /// How long a probe waits before it asks: a provider may still be processing an order whose gateway answered
    /// 504, and a lookup made too soon would miss it and send the order again.
    public static let settleMilliseconds: Int64 = 1_000
}

/// What a lookup by key found.
public enum LookupResult: Sendable, Equatable {
    /// The answer shows the order placed with the key.
    case found
    /// The provider says plainly that it has no order with the key.
    case notFound
    /// Anything else (a failure, a refusal, an answer in an unknown shape): it proves nothing either way.
    case unclear
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
    ///     a non-idempotent call that got one ends `uncertain` instead of being sent again, unless it is keyed.
    ///   - keyed: its key sits in the provider's dedupe field. After an ambiguous answer it is looked up
    ///     (`canLookUp`) or sent again (the provider refuses a second copy); it ends `uncertain` only when its tries
    ///     run out with no way to look. A duplicate-key answer is confirmed by a lookup where there is one.
    public static func next(_ kind: Kind, code: String?, attemptsSoFar: Int, previousWasClock: Bool,
                            idempotent: Bool, policy: RetryPolicy, retryAfterMilliseconds: Int64?, now: Int64,
                            jitter: Double, mayHaveExecuted: Bool = false, keyed: Bool = false,
                            canLookUp: Bool = false) -> NextStep {
        func backoff() -> NextStep {
            let attempts = attemptsSoFar + 1
            guard attempts < policy.attempts else { return .fail(.dead) }
            let delay = max(policy.backoffMilliseconds(afterFailedAttempts: attempts, jitter: jitter),
                            retryAfterMilliseconds ?? 0)
            return .retry(at: now + delay, countsAsAttempt: true)
        }
        switch kind {
        case .ok: return .succeed
        case .duplicate: return keyed && canLookUp ? .lookUp(.confirm) : .fail(.duplicate)
        case .permanent: return .fail(.failed)
        case .auth: return .failAndPause(reason: "auth error\(code.map { " \($0)" } ?? "") from the provider")
        case .rateLimited: return .retry(at: now + (retryAfterMilliseconds ?? 0), countsAsAttempt: false)
        case .clock(let escalates):
            if !previousWasClock { return .resignNow }
            // Still refused after correcting the clock: the key or secret is wrong, or the clock keeps drifting.
            return escalates ? .failAndPause(reason: "signature refused\(code.map { " (\($0))" } ?? "") after a clock correction") : backoff()
        case .transient: return mayHaveExecuted && !idempotent ? ambiguous() : backoff()
        case .notSent: return backoff()
        case .unknownOutcome: return idempotent ? backoff() : ambiguous()
        }

        /// A non-idempotent call that may have been carried out.
        func ambiguous() -> NextStep {
            guard keyed else { return .fail(.uncertain) }
            if canLookUp { return .lookUp(.probe) }
            let step = backoff()
            return step == .fail(.dead) ? .fail(.uncertain) : step
        }
    }

    /// The next step after a try that looked a keyed call's order up by its key. Every lookup try counts as an
    /// attempt (rate-limit deferrals and a first clock error excepted), so place, probe, place again... ends.
    ///
    /// Found: the call ends `duplicate`, done by an earlier try, with the order as its result. Not found: after a
    /// duplicate-key answer (`confirm`) that answer was not about this order, so the call fails for a person to
    /// look at; after an ambiguous answer (`probe`) the earlier try did not place it, so the order is sent again
    /// while tries remain (`uncertain` when none do). An unclear answer proves nothing: failures are retried like
    /// any read, and when tries run out, or the answer is a refusal in an unknown shape, the call ends
    /// `uncertain`. Rate limits and clock errors act as on any call; auth pauses the account (the runner keeps the
    /// call waiting for its lookup).
    public static func afterLookup(_ kind: Kind, result: LookupResult, reason: LookupReason, code: String?,
                                   attemptsSoFar: Int, previousWasClock: Bool, policy: RetryPolicy,
                                   retryAfterMilliseconds: Int64?, now: Int64, jitter: Double) -> NextStep {
        switch result {
        case .found:
            return .fail(.duplicate)
        case .notFound:
            if reason == .confirm { return .fail(.failed) }
            return attemptsSoFar + 1 < policy.attempts ? .sendAgain : .fail(.uncertain)
        case .unclear:
            switch kind {
            case .ok, .permanent, .duplicate:
                return .fail(.uncertain)
            case .rateLimited, .clock, .auth, .transient, .notSent, .unknownOutcome:
                let step = next(kind, code: code, attemptsSoFar: attemptsSoFar, previousWasClock: previousWasClock,
                                idempotent: true, policy: policy, retryAfterMilliseconds: retryAfterMilliseconds,
                                now: now, jitter: jitter)
                return step == .fail(.dead) ? .fail(.uncertain) : step
            }
        }
    }
}
