import Foundation
import PacerCore

/// The scheduler's vocabulary for an answer (see docs/providers.md).
public enum Classification: Sendable, Equatable, Hashable {
    case ok
    /// Cool the whole account down; never burns a retry attempt.
    case rateLimited
    /// The timestamp or signature expired: re-sign with a corrected clock and retry at once. When
    /// `escalatesToAuth`, the same answer after a correction means the key or secret is wrong (auth).
    case clock(escalatesToAuth: Bool)
    /// Retry with exponential backoff and jitter.
    case transient
    /// Fail the call and pause the account.
    case auth
    /// Fail, no retry.
    case permanent
    /// The provider says this was already done: terminal, not an error for idempotent calls.
    case duplicate

    /// The classification a job's `on:` map names.
    public init(_ name: ClassificationName) {
        switch name {
        case .ok: self = .ok
        case .rateLimited: self = .rateLimited
        case .clock: self = .clock(escalatesToAuth: false)
        case .transient: self = .transient
        case .auth: self = .auth
        case .permanent: self = .permanent
        case .duplicate: self = .duplicate
        }
    }

    public init?(name: String) {
        guard let known = ClassificationName(rawValue: name) else { return nil }
        self.init(known)
    }

    public var name: String { retryKind.name }

    /// The runner's view of this classification (the retry policy's input).
    public var retryKind: RetryDecision.Kind {
        switch self {
        case .ok: return .ok
        case .rateLimited: return .rateLimited
        case .clock(let escalates): return .clock(escalatesToAuth: escalates)
        case .transient: return .transient
        case .auth: return .auth
        case .permanent: return .permanent
        case .duplicate: return .duplicate
        }
    }
}

/// What an answer means, with what the runner needs to act on it.
public struct Outcome: Sendable, Equatable {
    public var classification: Classification
    /// The provider's own code, as text (`60001`, `429000`, `-110`), or `nil` when the answer had none.
    public var code: String?
    public var message: String?
    /// The payload as compact JSON text; numbers and member order are kept exactly as the provider sent them.
    public var data: String?
    /// Wait at least this long before the next try: a rate limit's reset, or a long backoff for answers like
    /// "insufficient inventory" or "maintenance".
    public var retryAfterMilliseconds: Int64?
    /// The server's clock, from its `Date` header or envelope, for correcting the offset after a clock error.
    public var serverTimeMilliseconds: Int64?
    /// A failure that can come *after* the provider acted (a gateway's 502/504, a 408, an internal error): re-sending
    /// a non-idempotent call could do it twice. Failures the provider guarantees happened before acting (rate
    /// limits, signature and auth refusals, "busy", "insufficient inventory", maintenance) leave this false.
    public var mayHaveExecuted: Bool
    /// The account's quota as the provider reports it in this answer, when it does (KuCoin's headers).
    public var quota: ProviderQuota?

    public init(_ classification: Classification, code: String? = nil, message: String? = nil, data: String? = nil,
                retryAfterMilliseconds: Int64? = nil, serverTimeMilliseconds: Int64? = nil,
                mayHaveExecuted: Bool = false, quota: ProviderQuota? = nil) {
        self.mayHaveExecuted = mayHaveExecuted
        self.quota = quota
        self.classification = classification
        self.code = code
        self.message = message
        self.data = data
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.serverTimeMilliseconds = serverTimeMilliseconds
    }
}

/// A row of a provider's code table: what a code means and, for some, how long to hold off.
struct CodeRule: Sendable {
    let classification: Classification
    let retryAfterMilliseconds: Int64?
    /// The code reports a failure that may have happened after the provider acted (see `Outcome.mayHaveExecuted`).
    let ambiguous: Bool

    init(_ classification: Classification, after: Int64? = nil, ambiguous: Bool = false) {
        self.classification = classification
        self.retryAfterMilliseconds = after
        self.ambiguous = ambiguous
    }
}

enum HTTPStatusRules {
    /// Classification from the HTTP status alone, for answers without a usable envelope.
    static func classify(_ status: Int) -> Classification {
        switch status {
        case 200..<300: return .ok
        case 429: return .rateLimited
        case 401, 403: return .auth
        case 408, 500..<600: return .transient
        default: return .permanent
        }
    }

    /// Whether a status-only failure may have come after the request was acted on: a timeout (408) or any 5xx
    /// (a gateway's 502/504 in particular) can. Only 503 and 429 are refusals before the work, by convention, but
    /// gateways answer 503 for upstream failures too, so 503 counts as ambiguous as well.
    static func mayHaveExecuted(_ status: Int) -> Bool { status == 408 || (500..<600).contains(status) }

    /// A success status whose body is not the provider's envelope (cut short, or a proxy's page): the request got
    /// through, so whatever it asked for may have been done.
    static func mayHaveExecutedWithoutEnvelope(_ status: Int) -> Bool { (200..<300).contains(status) || mayHaveExecuted(status) }
}

extension HTTPReply {
    /// `Retry-After`, in milliseconds: delay-seconds, or an HTTP-date measured against the answer's own `Date`
    /// (so our clock's error does not enter).
    var retryAfterMilliseconds: Int64? {
        guard let value = header("Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int64(value) { return HintBounds.clamp(min(seconds, HintBounds.maximum / 1000) * 1000) }
        guard let at = HTTPDate.milliseconds(value), let date = header("Date").flatMap(HTTPDate.milliseconds) else { return nil }
        return HintBounds.clamp(at - date)
    }
}

/// A provider's wait hint is taken between 0 and a day: a hostile or broken header must neither overflow the
/// arithmetic on instants nor hold an account for years.
enum HintBounds {
    static let maximum: Int64 = 86_400_000
    static func clamp(_ milliseconds: Int64) -> Int64 { min(max(0, milliseconds), maximum) }
}

extension Outcome {
    /// Takes the standard `Retry-After` header as the wait for a refusal that has no hint of the provider's own.
    func hinted(by reply: HTTPReply) -> Outcome {
        guard retryAfterMilliseconds == nil, classification == .rateLimited || classification == .transient,
              let hint = reply.retryAfterMilliseconds else { return self }
        var copy = self
        copy.retryAfterMilliseconds = hint
        return copy
    }

    /// Applies a job's `on:` overrides, keyed by the provider's code.
    func overridden(by overrides: [String: Classification]) -> Outcome {
        guard let code, let replacement = overrides[code] else { return self }
        var copy = self
        copy.classification = replacement
        return copy
    }
}
