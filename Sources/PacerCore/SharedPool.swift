/// A pool several accounts draw from (`pacer pool add`): an egress IP's limit, a provider-wide quota. Its
/// windows all hold, across every account that names it (docs/pools.md).
public struct SharedPool: Sendable, Equatable {
    public var name: String
    /// Shortest first.
    public var windows: [RateLimit]
    /// The accounts that name it (as read; empty when adding).
    public var accounts: [String]

    public init(name: String, windows: [RateLimit], accounts: [String] = []) {
        self.name = name
        self.windows = windows.sorted { $0.windowMilliseconds < $1.windowMilliseconds }
        self.accounts = accounts
    }

    /// `30/1s;1000/1m`, as stored.
    public var limitsText: String { windows.map(\.description).joined(separator: ";") }
}
