import PacerCore

/// An operator's `pacer retry` and `pacer cancel`, over any store: the rules are `CallRules`' and `RetryRules`';
/// the run's calls are visited a page at a time, so a run of a million calls never sits in memory.
extension PacerStore {
    /// Puts the run's calls in `states` back in the queue with fresh attempts (`CallRules.retried`; their results
    /// go, their tries stay in the history). Refused, changing nothing: an unknown run (`notFound`), a state that
    /// cannot be retried (`invalid`, see `CallState.retryable`), a run with calls not yet final (`conflict`).
    public func retry(run: Int64, states: Set<CallState>, nowMilliseconds: Int64) throws -> RunChange {
        try RetryRules.check(states)
        return try callTransaction { rows in
            guard try rows.lockRun(run) else { throw StoreError(.notFound, "no run \(run)") }
            let now = try rows.now { nowMilliseconds }
            try RetryRules.requireFinished(run: run, unfinished: try rows.countCalls(run: run, in: Self.unfinished))
            var changed = 0
            try Self.visit(rows, run: run, in: states) { page in
                try rows.deleteResults(page.map(\.id))
                try rows.writeCalls(page.map { CallRules.retried($0, now: now) })
                changed += page.count
            }
            try rows.setRunCancelled(run, at: nil)
            if changed > 0 { try rows.announceWork() }
            return RunChange(run: run, calls: changed)
        }
    }

    /// Cancels the run: its waiting calls become `cancelled` (`CallRules.cancelled`); calls in flight finish, and
    /// one that would be tried again is cancelled instead. Throws `notFound` for an unknown run.
    public func cancel(run: Int64, nowMilliseconds: Int64) throws -> RunChange {
        try callTransaction { rows in
            guard try rows.lockRun(run) else { throw StoreError(.notFound, "no run \(run)") }
            let now = try rows.now { nowMilliseconds }
            try rows.setRunCancelled(run, at: now)
            var changed = 0
            try Self.visit(rows, run: run, in: Self.unfinished) { page in
                let effects = page.compactMap { CallRules.cancelled($0, now: now) }
                try rows.writeCalls(effects.compactMap(\.row))
                try rows.writeResults(effects.compactMap(\.result))
                changed += effects.count
            }
            return RunChange(run: run, calls: changed)
        }
    }

    static var unfinished: Set<CallState> { [.queued, .retrying, .inFlight] }

    /// The run's calls in `states`, a page at a time, in id order.
    static func visit(_ rows: any CallRows, run: Int64, in states: Set<CallState>,
                      _ body: ([CallRow]) throws -> Void) throws {
        var after: Int64 = 0
        while true {
            let page = try rows.runCalls(run: run, in: states, after: after, limit: 5_000)
            guard let last = page.last else { return }
            try body(page)
            after = last.id
        }
    }
}
