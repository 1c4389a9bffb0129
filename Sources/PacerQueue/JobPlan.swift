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
        /// The pools each call draws from (docs/pools.md), each with its windows.
        public var pools: [PoolDraw]
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
        let shared = Dictionary(uniqueKeysWithValues: try store.sharedPools().map { ($0.name, $0.windows) })
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
                    let draws = registered.limits.draws(account: account, demand: call.pools, sharedPools: shared).draws
                    runs[id] = JobPlan.Run(job: run.run.job, account: account, calls: 0, weight: call.weight,
                                           limit: registered.limit, pools: draws,
                                           alreadyQueued: queued.unfinished[account] ?? 0,
                                           paused: registered.pausedReason, sample: [], etaMilliseconds: 0)
                }
                runs[id]!.calls += 1
                if runs[id]!.sample.count < sampleSize { runs[id]!.sample.append(call) }
            }
        }
        var planned = order.map { runs[$0]! }
        // Each pool serves what is queued first (the account's unfinished calls, counted on its primary pool at
        // weight 1), then this plan's runs that draw from it, in order; a run is done when every window of every
        // pool it draws from has sent it (docs/planning.md).
        var pools: [String: (windows: [RateLimit], runs: [Int], queued: Int)] = [:]
        for (index, run) in planned.enumerated() {
            let primary = accounts[run.account].map { PoolKey.own(account: run.account, pool: ($0.limits.defaultPool ?? $0.limits.pools[0]).name) }
            for draw in run.pools {
                var entry = pools[draw.key] ?? (draw.windows, [], 0)
                if entry.runs.isEmpty && draw.key == primary {
                    entry.queued += run.alreadyQueued
                }
                entry.runs.append(index)
                pools[draw.key] = entry
            }
        }
        for entry in pools.values {
            let work = [DrainEstimate.Work(calls: entry.queued, weight: 1)]
                + entry.runs.map { DrainEstimate.Work(calls: planned[$0].calls, weight: planned[$0].weight) }
            for window in entry.windows {
                let ends = DrainEstimate.finishTimes(work, limit: window, marginMilliseconds: marginMilliseconds)
                for (index, end) in zip(entry.runs, ends.dropFirst()) {
                    planned[index].etaMilliseconds = max(planned[index].etaMilliseconds, end)
                }
            }
        }
        return JobPlan(runs: planned)
    }
}
