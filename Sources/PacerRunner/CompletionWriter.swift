import PacerCore
import PacerStorage

/// Collects finished tries and writes them in batches: one transaction per batch instead of per call is what
/// lets a runner keep up with a fast provider. A batch is written when it reaches `batchSize`, or by the runner's
/// periodic `flush()`, and always before the runner exits.
///
/// A failed write keeps its batch: the answers are already received and cannot be asked for again, so they stay
/// here (in order, ahead of newer ones) until a later flush succeeds.
actor CompletionWriter {
    /// Writes a batch; returns the final states it gave its calls.
    private let write: @Sendable ([Completion]) async throws -> [CallState: Int]
    private var pending: [Completion] = []
    private let batchSize: Int
    private(set) var written = 0
    /// The written answers that ended their call, by final state (what `pacer run --fail-on` looks at).
    private(set) var ended: [CallState: Int] = [:]
    /// Calls this runner ended another way (its recovery of dead runners' calls).
    func noteEnded(_ states: [CallState: Int]) { for (state, n) in states { ended[state, default: 0] += n } }
    private var flushing = false

    init(batchSize: Int = 128, write: @escaping @Sendable ([Completion]) async throws -> [CallState: Int]) {
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

    func flush() async throws {
        // One write at a time: the actor is re-entered while a write awaits, and two overlapping writes could
        // both take the same batch.
        guard !pending.isEmpty, !flushing else { return }
        flushing = true
        defer { flushing = false }
        let batch = pending
        let states = try await write(batch)
        pending.removeFirst(batch.count)
        written += batch.count
        noteEnded(states)
    }
}
