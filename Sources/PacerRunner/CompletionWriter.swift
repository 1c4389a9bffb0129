import PacerStore

/// Collects finished tries and writes them in batches: one SQLite transaction per batch instead of per call is
/// what lets a runner keep up with a fast provider. A batch is written when it reaches `batchSize`, or by the
/// runner's periodic `flush()`, and always before the runner exits.
actor CompletionWriter {
    private let store: any PacerStore
    private var pending: [Completion] = []
    private let batchSize: Int
    private(set) var written = 0

    init(store: any PacerStore, batchSize: Int = 128) {
        self.store = store
        self.batchSize = batchSize
    }

    func add(_ completion: Completion) throws {
        pending.append(completion)
        if pending.count >= batchSize { try flush() }
    }

    func flush() throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        try store.complete(batch)
        written += batch.count
    }
}
