import PacerStorage

/// Collects finished tries and writes them in batches: one transaction per batch instead of per call is what
/// lets a runner keep up with a fast provider. A batch is written when it reaches `batchSize`, or by the runner's
/// periodic `flush()`, and always before the runner exits.
///
/// A failed write keeps its batch: the answers are already received and cannot be asked for again, so they stay
/// here (in order, ahead of newer ones) until a later flush succeeds.
///
/// With SQLite, answers mostly ride on the runner's spend commits instead (`take()`): a commit is a lock and an
/// fsync whatever it holds, and a batch written on its own would hold the lock while spends wait.
actor CompletionWriter {
    private let write: @Sendable ([Completion]) async throws -> Void
    private var pending: [Completion] = []
    private let batchSize: Int
    private(set) var written = 0
    private var flushing = false

    init(batchSize: Int = 128, write: @escaping @Sendable ([Completion]) async throws -> Void) {
        self.write = write
        self.batchSize = batchSize
    }

    var waiting: Int { pending.count }
    /// The answers not written yet (for a last report when the database cannot take them).
    var unwritten: [Completion] { pending }

    /// Adds a finished try; writes the batch once it is full. A failed write keeps everything for the next
    /// flush (the runner's loop flushes often and reports errors), so adding never fails.
    func add(_ completion: Completion) async {
        pending.append(completion)
        if pending.count >= batchSize { try? await flush() }
    }

    /// Hands every waiting answer to a commit made elsewhere (the spends', `Runner.spends`), unless a write is
    /// under way. The caller must report with `taken(_:written:)`.
    func take() -> [Completion] {
        guard !pending.isEmpty, !flushing else { return [] }
        flushing = true
        return pending
    }

    /// The answers `take()` handed out were written, or not (then they stay, ahead of newer ones).
    func taken(_ batch: [Completion], written wasWritten: Bool) {
        guard !batch.isEmpty else { return }
        flushing = false
        guard wasWritten else { return }
        pending.removeFirst(batch.count)
        written += batch.count
    }

    func flush() async throws {
        // One write at a time: the actor is re-entered while a write awaits, and two overlapping writes could
        // both take the same batch.
        guard !pending.isEmpty, !flushing else { return }
        flushing = true
        defer { flushing = false }
        let batch = pending
        try await write(batch)
        pending.removeFirst(batch.count)
        written += batch.count
    }
}
