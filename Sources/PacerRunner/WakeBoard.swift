/// Where idle account workers wait for work, instead of each polling the database.
///
/// A worker whose claim came back empty waits here for its account; the runner's loop reads, once per turn and
/// for all accounts together, when each account's next call is due (`PacerStore.nextDue`), and wakes the accounts
/// whose calls are due. So an idle runner over 1,000 accounts costs one cheap read per turn, not 1,000 write
/// transactions. A wake that finds nobody waiting is kept, so a worker that was busy when its account was woken
/// does not miss it. `wakeAll()` (on stop) releases everyone.
actor WakeBoard {
    private let clock: any RunnerClock
    private var waiting: [String: [Int: CheckedContinuation<Void, Never>]] = [:]
    private var woken = Set<String>()
    private var stopped = false
    private var nextTicket = 0

    init(clock: any RunnerClock) { self.clock = clock }

    /// Accounts with a worker waiting now.
    var idleAccounts: Set<String> { Set(waiting.keys) }

    /// Waits until `account` is woken, the board is stopped, or `timeoutMilliseconds` pass.
    func wait(_ account: String, timeoutMilliseconds: Int64) async {
        if stopped || woken.remove(account) != nil { return }
        nextTicket += 1
        let ticket = nextTicket
        let timer = Task { [weak self, clock] in
            try? await clock.sleep(milliseconds: timeoutMilliseconds)
            await self?.expire(account, ticket)
        }
        await withCheckedContinuation { waiting[account, default: [:]][ticket] = $0 }
        timer.cancel()
    }

    func wake(_ account: String) {
        if let waiters = waiting.removeValue(forKey: account) {
            for continuation in waiters.values { continuation.resume() }
        } else {
            woken.insert(account)
        }
    }

    func wakeAll() {
        stopped = true
        let all = waiting
        waiting = [:]
        for waiters in all.values { for continuation in waiters.values { continuation.resume() } }
    }

    private func expire(_ account: String, _ ticket: Int) {
        guard let continuation = waiting[account]?.removeValue(forKey: ticket) else { return }
        if waiting[account]?.isEmpty == true { waiting[account] = nil }
        continuation.resume()
    }
}
