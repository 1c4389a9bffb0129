import PacerCore

/// Answers written, over any store: the rules are `CallRules`'; the store reads and writes the rows.
extension PacerStore {
    /// Records each try and moves its call on, in one transaction; only the lease holder's completions move a
    /// call (a late answer may still settle one, see `CallRules.lateAnswer`). The runner's open limiter spends for
    /// each call are settled at `finishedAt` (the later of dispatch and answer), so their tokens stay spent a
    /// window after the answer. Returns the final states these answers gave their calls (not a late answer's that
    /// changed nothing: `pacer run --fail-on` counts what this runner really ended).
    @discardableResult
    public func complete(_ completions: [Completion]) throws -> [CallState: Int] {
        guard !completions.isEmpty else { return [:] }
        return try callTransaction { rows in
            // Runners hand their instants on the store's clock (they measure its offset at each heartbeat, erring
            // late). An answer cannot have come after now: a later instant is taken as now.
            let now = try rows.now { completions.map(\.finishedAt).max() ?? 0 }
            let batch = completions.map { original -> Completion in
                var c = original
                c.finishedAt = min(c.finishedAt, now)
                c.startedAt = min(c.startedAt, c.finishedAt)
                return c
            }
            var current: [Int64: CallRow] = [:]
            for row in try rows.lockCalls(Array(Set(batch.map(\.call))).sorted()) { current[row.id] = row }
            // Whether recovery knew what it was doing with a call left `uncertain` is in its result.
            let uncertain = current.values.filter { $0.state == .uncertain }.map(\.id)
            if !uncertain.isEmpty {
                for (id, error) in try rows.resultErrors(uncertain.sorted()) { current[id]?.resultError = error }
            }
            let spends = try rows.spends(of: batch.map { ($0.call, $0.runner) })
            var changed: [Int64: CallRow] = [:], attempts: [AttemptRow] = [], results: [Int64: ResultRow] = [:]
            var settled: [Int64: SpendSettlement] = [:], ended: [CallState: Int] = [:]
            // In order: should a call appear twice, the later answer meets the earlier one's outcome.
            for c in batch {
                for s in CallRules.settlements(c, spends) {
                    settled[s.id] = SpendSettlement(id: s.id, at: max(s.at, settled[s.id]?.at ?? s.at), accepted: s.accepted)
                }
                let effect = CallRules.complete(c, current[c.call])
                if let row = effect.row { current[c.call] = row; changed[c.call] = row }
                if let row = effect.row, row.state.isTerminal, effect.result != nil { ended[row.state, default: 0] += 1 }
                if let attempt = effect.attempt { attempts.append(attempt) }
                if let result = effect.result { results[c.call] = result }
            }
            try rows.writeCalls(changed.values.sorted { $0.id < $1.id })
            // Once each: the same answer twice in a batch (written again after a lost COMMIT reply) is one try.
            var seen = Set<String>()
            try rows.insertAttempts(attempts.filter {
                seen.insert("\($0.call) \($0.runner) \($0.startedAt ?? -1) \($0.classification)").inserted
            })
            try rows.writeResults(results.values.sorted { $0.call < $1.call })
            try rows.settleSpends(settled.values.sorted { $0.id < $1.id })
            if changed.values.contains(where: { $0.state == .retrying || $0.state == .queued }) { try rows.announceWork() }
            return ended
        }
    }
}
