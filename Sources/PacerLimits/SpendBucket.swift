import PacerCore

/// One account's bucket while a spend transaction decides: its budget, a running cool-down, what it holds, and
/// (read only when needed) the spends that hold it. Shared by every store, so the decision is the same on each.
public struct SpendBucket: Sendable {
    public var budget: WindowBudget
    public var cooldownUntil: Int64?
    public var held: Int
    public var log: [WindowBudget.Spend]?
    /// What this bucket granted before its log was read: not in the store until the caller writes the batch, so
    /// added to the spends the store hands back when the log is read.
    private var unwritten: [WindowBudget.Spend] = []

    public init(budget: WindowBudget, cooldownUntil: Int64?, held: Int) {
        self.budget = budget
        self.cooldownUntil = cooldownUntil
        self.held = held
    }

    /// The calls that fit now, in order, and when the first one that does not may be tried. The sum of what the
    /// bucket holds answers for most calls; the spends themselves are read (`readLog`, once) only when a call does
    /// not fit, to find when enough tokens return. A big-N account far from its limit never reads its window.
    public mutating func plan(_ calls: [(id: Int64, weight: Int)], now: Int64,
                              readLog: () throws -> [WindowBudget.Spend]) rethrows
        -> (fitting: [(id: Int64, weight: Int)], retryAt: Int64?) {
        var fitting: [(id: Int64, weight: Int)] = []
        var held = self.held
        for call in calls {
            if held + call.weight > budget.capacity {
                if log == nil { log = try readLog() + unwritten }
                let chosen = fitting.map { WindowBudget.Spend(at: now, weight: $0.weight, open: true) }
                if case .wait(let until) = budget.decide(weight: call.weight, now: now, log: log! + chosen) {
                    return (fitting, until)
                }
            }
            fitting.append(call)
            held += call.weight
        }
        return (fitting, nil)
    }

    /// What may leave while the account cools down: nothing until `wait` (when the probe may go, or to look again
    /// while it is out, or the cool-down's end: `Pacing.lookAgain`), or the first call alone as the cool-down's
    /// probe (`Pacing.takeProbe`), with the pacing to save once its spend is written. `nil` when not cooling down.
    public enum CoolDownGate {
        case wait(until: Int64)
        case probe(call: (id: Int64, weight: Int), pacing: Pacing)
    }

    public func coolDownGate(_ calls: [(id: Int64, weight: Int)], pacing: Pacing, now: Int64) -> CoolDownGate? {
        guard cooldownUntil != nil else { return nil }
        var pacing = pacing
        guard let first = calls.first, pacing.takeProbe(call: first.id, now: now) else {
            return .wait(until: pacing.lookAgain(after: now, windowMilliseconds: budget.windowMilliseconds))
        }
        return .probe(call: first, pacing: pacing)
    }

    /// Records the calls granted (open, at `now`), whether or not their spends are written yet.
    public mutating func spent(_ calls: [(id: Int64, weight: Int)], at now: Int64) {
        held += calls.reduce(0) { $0 + $1.weight }
        let spends = calls.map { WindowBudget.Spend(at: now, weight: $0.weight, open: true) }
        if log != nil { log!.append(contentsOf: spends) } else { unwritten.append(contentsOf: spends) }
    }
}
