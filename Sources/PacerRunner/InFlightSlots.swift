import DequeModule

/// Bounds the requests in flight across all accounts (`--concurrency`), and each account's share of them.
///
/// An account may hold at most `total / active` slots, where `active` counts the accounts holding, waiting for or
/// about to ask for slots (`announce`: spending the tokens of calls it will send). The cap is on what an account
/// *holds*, not on each request for more: a slow account (answers that take seconds) would otherwise collect slot
/// after slot until it held nearly all of them and every other account waited on its answers. Waiters are served in arrival order among those still under their share.
///
/// Every operation is O(1) in the number of accounts (the active count is kept, not recomputed), so 10,000
/// accounts cost no more per slot than ten.
actor InFlightSlots {
    private let total: Int
    private var free: Int
    private var held: [String: Int] = [:]
    /// Per account: slots held plus requests waiting (plus one while announced); active while above zero.
    private var interest: [String: Int] = [:]
    private var waiters: Deque<(account: String, wanted: Int, continuation: CheckedContinuation<Int, Never>)> = []
    /// Accounts that announced they will ask for slots soon (they are spending tokens first): counted as active.
    private var announced: Set<String> = []

    init(_ count: Int) {
        total = max(1, count)
        free = total
    }

    /// The most slots `account` may hold right now.
    func share(of account: String) -> Int {
        let active = interest.count + (interest[account] == nil ? 1 : 0)
        return max(1, total / active)
    }

    func holding(_ account: String) -> Int { held[account] ?? 0 }

    /// `account` will ask for slots once its tokens are spent: it counts as active from now (so a slow account
    /// cannot take its share meanwhile) until its next `acquire`, or `withdraw` if it will not ask after all.
    /// Returns its share.
    func announce(_ account: String) -> Int {
        if announced.insert(account).inserted { interest[account, default: 0] += 1 }
        return share(of: account)
    }

    func withdraw(_ account: String) {
        if announced.remove(account) != nil {
            lose(account, 1)
            serveWaiters()
        }
    }

    /// Waits until `account` may take at least one slot, then takes as many as it may, up to `wanted`.
    ///
    /// Free slots go to the caller at once even when others wait: every release serves the waiters that can be
    /// served, so those still waiting are at their share and must not hold up an account that is not.
    func acquire(account: String, upTo wanted: Int) async -> Int {
        if announced.remove(account) != nil { lose(account, 1) } // the announcement becomes this request
        if let granted = take(account, wanted) { return granted }
        interest[account, default: 0] += 1
        return await withCheckedContinuation { waiters.append((account, max(1, wanted), $0)) }
    }

    func release(account: String, _ count: Int = 1) {
        guard count > 0 else { return }
        free += count
        let left = (held[account] ?? 0) - count
        held[account] = left > 0 ? left : nil
        lose(account, count)
        serveWaiters()
    }

    private func take(_ account: String, _ wanted: Int) -> Int? {
        let room = min(free, share(of: account) - holding(account), max(1, wanted))
        guard room > 0 else { return nil }
        free -= room
        held[account, default: 0] += room
        interest[account, default: 0] += room
        return room
    }

    private func lose(_ account: String, _ count: Int) {
        let left = (interest[account] ?? 0) - count
        interest[account] = left > 0 ? left : nil
    }

    private func serveWaiters() {
        var index = 0
        while index < waiters.count && free > 0 {
            let waiter = waiters[index]
            lose(waiter.account, 1) // it stops waiting, whether served now or put back
            if let granted = take(waiter.account, waiter.wanted) {
                waiters.remove(at: index)
                waiter.continuation.resume(returning: granted)
            } else {
                interest[waiter.account, default: 0] += 1
                index += 1
            }
        }
    }
}
