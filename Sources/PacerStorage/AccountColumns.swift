import PacerCore

/// How an account's pools are kept in its row, the same in every store: `limits` holds every `--limit`
/// (`10/1s;spot=40/3s`), `shared` the shared pools it names (`office-ip;quota`), and limit_count/limit_window_ms
/// its primary limit, for readers that show one (and for rows written before pools, whose `limits` is NULL).
public enum AccountColumns {
    public static func limits(_ account: Account) -> String { account.limits.text }
    public static func shared(_ account: Account) -> String? {
        account.limits.shared.isEmpty ? nil : account.limits.shared.joined(separator: ";")
    }

    /// The account's limits from its row's columns.
    public static func limits(name: String, text: String?, shared: String?, count: Int,
                              windowMilliseconds: Int64) throws -> AccountLimits {
        let sharedNames = shared.map { $0.split(separator: ";").map(String.init) } ?? []
        guard let text else {
            return AccountLimits(pools: [.init(name: "", windows: [RateLimit(count: count, windowMilliseconds: windowMilliseconds)])],
                                 shared: sharedNames)
        }
        do {
            return try AccountLimits(parsing: text.split(separator: ";").map(String.init), shared: sharedNames)
        } catch {
            throw StoreError(.database, "account '\(name)' has limits this pacer cannot read: \(error)")
        }
    }

    /// A shared pool's windows from its row.
    public static func windows(pool: String, text: String) throws -> [RateLimit] {
        let windows = text.split(separator: ";").compactMap { RateLimit(parsing: String($0)) }
        guard !windows.isEmpty else { throw StoreError(.database, "shared pool '\(pool)' has unreadable limits '\(text)'") }
        return windows
    }
}
