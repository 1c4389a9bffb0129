/// What a provider says about an account's quota in its answers (KuCoin's `gw-ratelimit-limit`,
/// `gw-ratelimit-remaining`, `gw-ratelimit-reset`). Parsed by each provider, acted on by the limiter.
public struct ProviderQuota: Sendable, Equatable {
    /// The limit per window, as the provider enforces it.
    public var limit: Int?
    /// What is left of it in the current window.
    public var remaining: Int?
    /// Milliseconds until the window resets.
    public var resetMilliseconds: Int64?

    public init(limit: Int? = nil, remaining: Int? = nil, resetMilliseconds: Int64? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.resetMilliseconds = resetMilliseconds
    }
}
