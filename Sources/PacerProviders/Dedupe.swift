import PacerCore

/// What a provider deduplicates on, for `{{key}}` (Contract 3). Each provider file implements these beside its
/// signer and code table; a provider without client-chosen keys (Bit-Z) keeps the defaults: nothing is keyed.
///
/// A call is *keyed* when its request puts its key in `dedupeField` for its endpoint: the provider then refuses a
/// second order with that key, so re-sending after an ambiguous answer cannot do the work twice, and the
/// provider's duplicate-key answer means "done by an earlier try".
public protocol DedupeRules: Sendable {
    /// The top-level request field this endpoint deduplicates on, or `nil` when it does not.
    func dedupeField(method: HTTPMethod, path: String) -> String?
    /// Whether `outcome`, the answer to a keyed call, is the provider saying the key was already used.
    func isDuplicateKey(_ outcome: Outcome) -> Bool
    /// The request that looks up the order placed by `request` with `key`, or `nil` where the provider has none.
    func lookup(_ request: APIRequest, key: String) -> APIRequest?
    /// What a lookup's answer says about the order placed with `key`.
    func lookupResult(_ outcome: Outcome, key: String) -> LookupResult
    /// Whether `outcome` says the work of `request` is already done (a cancel of an order that is gone). After an
    /// earlier try that may have reached the provider, the runner reads it as "done by that try".
    func isAlreadyDone(_ outcome: Outcome, request: APIRequest) -> Bool
}

extension DedupeRules {
    public func dedupeField(method: HTTPMethod, path: String) -> String? { nil }
    public func isDuplicateKey(_ outcome: Outcome) -> Bool { false }
    public func lookup(_ request: APIRequest, key: String) -> APIRequest? { nil }
    public func isAlreadyDone(_ outcome: Outcome, request: APIRequest) -> Bool { false }

    /// Found only when the answer succeeded *and* its payload carries the key. Not found when it succeeded with
    /// no payload (`"data": null`) or its message says the order does not exist. Anything else is unclear: a
    /// refusal for another reason must not be read as "never placed", which would send the order again.
    public func lookupResult(_ outcome: Outcome, key: String) -> LookupResult {
        if outcome.classification == .ok {
            if outcome.data?.contains("\"\(key)\"") == true { return .found }
            return outcome.data == nil || outcome.data == "null" ? .notFound : .unclear
        }
        let message = outcome.message?.lowercased() ?? ""
        let says = ["not exist", "not found", "does not exist"].contains { message.contains($0) }
        return says && outcome.classification == .permanent ? .notFound : .unclear
    }
}
