/// The words a job's `on:` map may use to re-classify a provider's code (`on: {80003: transient}`); the
/// providers module turns them into its `Classification`.
public enum ClassificationName: String, Sendable, CaseIterable {
    case ok
    case rateLimited = "rate-limited"
    case clock
    case transient
    case auth
    case permanent
    case duplicate

    public static var expected: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
