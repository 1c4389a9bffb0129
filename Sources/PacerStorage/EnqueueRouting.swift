import PacerCore

/// The part of `enqueue` every store shares: which run each call goes to, and what the caller gets back.
///
/// A plain run is opened once (or found to be unnecessary: the same tick, `--unique-for`). A routed run (items
/// that name their account) opens a run per account the first time a call names it, in that order. The store
/// supplies the database side: opening a run, adding a call to it (buffered as it likes), flushing what it
/// buffered, and recording a run's call count; all inside its one transaction.
public struct EnqueueRouting {
    public var open: (_ run: NewRun, _ account: String) throws -> (id: Int64, skipped: Bool)
    public var add: (_ call: NewCall, _ run: Int64, _ account: String) throws -> Void
    public var flush: () throws -> Void
    public var setCallCount: (_ run: Int64, _ calls: Int) throws -> Void

    public init(open: @escaping (NewRun, String) throws -> (id: Int64, skipped: Bool),
                add: @escaping (NewCall, Int64, String) throws -> Void,
                flush: @escaping () throws -> Void,
                setCallCount: @escaping (Int64, Int) throws -> Void) {
        self.open = open
        self.add = add
        self.flush = flush
        self.setCallCount = setCallCount
    }

    public func enqueue(_ runs: [RunToEnqueue]) throws -> [EnqueuedRun] {
        var enqueued: [EnqueuedRun] = []
        for item in runs {
            let run = item.run
            // account -> (run id, skipped, calls); in the order accounts are first named.
            var opened: [String: (id: Int64, skipped: Bool, calls: Int)] = [:]
            var order: [String] = []
            if !item.routed {
                let (id, skipped) = try open(run, run.account)
                opened[run.account] = (id, skipped, 0)
                order.append(run.account)
                if skipped {
                    enqueued.append(EnqueuedRun(run: id, job: run.job, account: run.account, calls: 0, skipped: true))
                    continue
                }
            }
            try item.produceCalls { call in
                let account = item.routed ? (call.account ?? run.account) : run.account
                if opened[account] == nil {
                    let (id, skipped) = try open(run, account)
                    opened[account] = (id, skipped, 0)
                    order.append(account)
                }
                guard let target = opened[account], !target.skipped else { return }
                try add(call, target.id, account)
                opened[account]?.calls += 1
            }
            try flush()
            for account in order {
                let target = opened[account]!
                if !target.skipped { try setCallCount(target.id, target.calls) }
                enqueued.append(EnqueuedRun(run: target.id, job: run.job, account: account,
                                            calls: target.skipped ? 0 : target.calls, skipped: target.skipped))
            }
        }
        return enqueued
    }
}
