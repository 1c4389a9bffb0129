import PacerCore
import PacerLimits

/// Dead runners' calls taken back, and calls given back, over any store: the rules are `CallRules`'.
extension PacerStore {
    /// Removes the runners `isDead` condemns (given each runner's record and `now()` read inside the transaction)
    /// and settles their calls (`CallRules.recover`). Open limiter spends whose owner is gone are settled a grace
    /// after now: a request handed to a dead runner's HTTP client may still leave a little later.
    ///
    /// A live runner's calls are never taken from it by the clock alone (a heartbeat waiting for a lock must not
    /// cost a live runner its calls): only the calls of a runner no longer registered are orphans.
    public func recoverAbandoned(now clock: () -> Int64, isDead: (RunnerRecord, Int64) -> Bool) throws -> Recovery {
        try callTransaction { rows in
            guard try rows.takeRecoveryTurn() else { return Recovery(requeued: 0, uncertain: 0, dead: 0, deadRunners: []) }
            let now = try rows.now(clock)
            let dead = try rows.deleteRunners(try rows.runners().filter { isDead($0, now) })
            try rows.settleUnownedSpends(at: now + WindowBudget.deadOwnerGraceMilliseconds)
            var recovery = Recovery(requeued: 0, uncertain: 0, dead: 0, deadRunners: dead)
            var changed: [CallRow] = [], attempts: [AttemptRow] = [], results: [ResultRow] = []
            for row in try rows.orphanedCalls() {
                let effect = CallRules.recover(row, now: now)
                guard let next = effect.row else { continue }
                changed.append(next)
                if let attempt = effect.attempt { attempts.append(attempt) }
                if let result = effect.result { results.append(result) }
                switch next.state {
                case .uncertain: recovery.uncertain += 1
                case .dead: recovery.dead += 1
                default: recovery.requeued += 1 // back in the queue, or cancelled with its run
                }
            }
            try rows.insertAttempts(attempts)
            try rows.writeCalls(changed)
            try rows.writeResults(results)
            if changed.contains(where: { $0.state == .retrying || $0.state == .queued }) { try rows.announceWork() }
            return recovery
        }
    }

    /// Gives back calls this runner claimed but did not dispatch (on shutdown), see `CallRules.release`.
    public func release(_ calls: [Int64], runner: String) throws {
        guard !calls.isEmpty else { return }
        try callTransaction { rows in
            let released = try rows.lockCalls(calls.sorted()).compactMap { CallRules.release($0, runner: runner) }
            try rows.writeCalls(released)
            if !released.isEmpty { try rows.announceWork() }
        }
    }
}
