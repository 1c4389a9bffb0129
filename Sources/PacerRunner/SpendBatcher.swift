import PacerStore

/// Gathers the spends of all of a runner's accounts into shared transactions (group commit).
///
/// Each spend is a durable commit (an fsync) and takes the database's write lock. With a thousand accounts each
/// spending a call or two at a time, one commit per spend would be the runner's whole cost; here, spends that
/// arrive while a commit is under way wait for the next one and go together, so the commits follow the load,
/// not the number of accounts.
actor SpendBatcher {
    private let store: any PacerStore
    private let clock: any RunnerClock
    private var queued: [(request: SpendRequest, runnerID: String, done: CheckedContinuation<SpendGrant, any Error>)] = []
    private var committing = false

    init(store: any PacerStore, clock: any RunnerClock) {
        self.store = store
        self.clock = clock
    }

    func spend(_ request: SpendRequest, as runnerID: String) async throws -> SpendGrant {
        try await withCheckedThrowingContinuation { done in
            queued.append((request, runnerID, done))
            if !committing {
                committing = true
                Task { await self.commitAll() }
            }
        }
    }

    private func commitAll() async {
        while !queued.isEmpty {
            // One transaction per runner id (it changes only when we are declared dead and register again).
            let runnerID = queued[0].runnerID
            let batch = queued.filter { $0.runnerID == runnerID }
            queued.removeAll { $0.runnerID == runnerID }
            let requests = batch.map(\.request)
            let store = self.store, clock = self.clock
            do {
                let grants = try await StoreExecutor.run { try store.spend(requests, runner: runnerID, now: clock.now) }
                for (item, grant) in zip(batch, grants) { item.done.resume(returning: grant) }
            } catch {
                for item in batch { item.done.resume(throwing: error) }
            }
        }
        committing = false
    }
}
