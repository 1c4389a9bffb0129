import PacerCore
import PacerJobs
import PacerLimits
import PacerStorage

/// What `pacer enqueue` would do, without doing it (`pacer plan`, `enqueue --dry-run`): per run and account, the
/// calls, the pool and weight they draw, the first few rendered requests, and how long the limits alone need,
/// counting what is already queued on the same accounts (`DrainEstimate`, docs/planning.md).
public struct JobPlan: Sendable {
    public struct Run: Sendable {
        public var job: String
        public var account: String
        public var calls: Int
        public var weight: Int
        public var limit: RateLimit
        /// Unfinished calls on the account before this plan's runs (counted as weight 1 each).
        public var alreadyQueued: Int
        /// Why the account is paused (nothing is sent until `pacer account resume`), or nil.
        public var paused: String?
        /// The first calls as they would be queued; a per-call key shows as `{{key}}`.
        public var sample: [NewCall]
        /// From the first send until this run's last answer, by the limits alone.
        public var etaMilliseconds: Int64
    }

    public var runs: [Run]
    /// The longest of the runs' estimates: when the last of them is done.
    public var etaMilliseconds: Int64 { runs.map(\.etaMilliseconds).max() ?? 0 }
}

extension Enqueuer {
    /// Validates `specs` as `enqueue` does (every item read, every account checked) and queues nothing.
    ///
    /// - Parameters:
    ///   - sampleSize: how many rendered calls to keep per run.
    ///   - marginMilliseconds: the runner's `--margin` (`nil`: its default).
    public func plan(specs: [JobSpec], strict: Bool = false, warn: (JobFileError) -> Void = { _ in },
                     sampleSize: Int = 3, marginMilliseconds: Int64? = nil) throws -> JobPlan {
        var planning = self
        planning.makeKey = { "{{key}}" } // what the sample shows; nothing is stored
        let prepared = try planning.prepared(specs: specs, strict: strict, warn: warn)
        let accounts = Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0) })
        let queued = try store.snapshot(accounts: nil)

        // Runs that route items to their accounts become one planned run per account, in first-seen order.
        var order: [String] = []
        var runs: [String: JobPlan.Run] = [:]
        for run in prepared {
            try run.produceCalls { call in
                let account = call.account ?? run.run.account
                let id = run.run.job + "\u{0}" + account
                if runs[id] == nil {
                    guard let registered = accounts[account] else { return } // checked already; never here
                    order.append(id)
                    runs[id] = JobPlan.Run(job: run.run.job, account: account, calls: 0, weight: call.weight,
                                           limit: registered.limit, alreadyQueued: queued.unfinished[account] ?? 0,
                                           paused: registered.pausedReason, sample: [], etaMilliseconds: 0)
                }
                runs[id]!.calls += 1
                if runs[id]!.sample.count < sampleSize { runs[id]!.sample.append(call) }
            }
        }
        var planned = order.map { runs[$0]! }
        // Each account serves what is queued first, then this plan's runs in order.
        for account in Set(planned.map(\.account)) {
            let indices = planned.indices.filter { planned[$0].account == account }
            let first = planned[indices[0]]
            let work = [DrainEstimate.Work(calls: first.alreadyQueued, weight: 1)]
                + indices.map { DrainEstimate.Work(calls: planned[$0].calls, weight: planned[$0].weight) }
            let ends = DrainEstimate.finishTimes(work, limit: first.limit, marginMilliseconds: marginMilliseconds)
            for (index, end) in zip(indices, ends.dropFirst()) { planned[index].etaMilliseconds = end }
        }
        return JobPlan(runs: planned)
    }
}
