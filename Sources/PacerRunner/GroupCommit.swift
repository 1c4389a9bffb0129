/// Gathers the requests of all of a runner's accounts (their claims, their spends) into shared transactions:
/// group commit.
///
/// Each claim and spend is a write transaction that takes the database's write lock, and a spend is a durable
/// commit (an fsync). With a thousand accounts each claiming or spending a few calls at a time, one commit per
/// request would be the runner's whole cost; here, requests that arrive while a commit is under way wait for the
/// next one and go together, so the commits follow the load, not the number of accounts.
actor GroupCommit<Request: Sendable, Answer: Sendable> {
    /// Commits `requests` for the runner id in one transaction, one answer per request, in order (the store's
    /// part off the cooperative pool, with `StoreExecutor`).
    typealias Commit = @Sendable (_ requests: [Request], _ runnerID: String) async throws -> [Answer]

    private let commit: Commit
    private var queued: [(request: Request, runnerID: String, done: CheckedContinuation<Answer, any Error>)] = []
    private var committing = false

    init(_ commit: @escaping Commit) {
        self.commit = commit
    }

    func submit(_ request: Request, as runnerID: String) async throws -> Answer {
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
            let requests = batch.map(\.request), commit = self.commit
            do {
                let answers = try await commit(requests, runnerID)
                for (item, answer) in zip(batch, answers) { item.done.resume(returning: answer) }
            } catch {
                for item in batch { item.done.resume(throwing: error) }
            }
        }
        committing = false
    }
}
