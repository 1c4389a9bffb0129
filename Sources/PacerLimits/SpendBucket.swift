import PacerCore

/// One window of a pool while a spend transaction decides: its budget, a running cool-down, what it holds, and
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

    /// `nil` when a call of `weight` fits now, else the instant enough tokens come back. The sum of what the bucket
    /// holds answers for most calls; the spends themselves are read (`readLog`, once) only when a call does not
    /// fit, to find when enough tokens return. A big-N pool far from its limit never reads its window.
    public mutating func wait(for weight: Int, now: Int64, readLog: () throws -> [WindowBudget.Spend]) rethrows -> Int64? {
        guard held + weight > budget.capacity else { return nil }
        if log == nil { log = try readLog() + unwritten }
        if case .wait(let until) = budget.decide(weight: weight, now: now, log: log!) { return until }
        return nil
    }

    /// What may leave while the pool cools down: nothing until `wait` (when the probe may go, or to look again
    /// while it is out, or the cool-down's end: `Pacing.lookAgain`), or `call` alone as the cool-down's probe
    /// (`Pacing.takeProbe`), with the pacing to save once its spend is written. `nil` when not cooling down.
    public enum CoolDownGate {
        case wait(until: Int64)
        case probe(pacing: Pacing)
    }

    public func coolDownGate(_ call: Int64, pacing: Pacing, now: Int64) -> CoolDownGate? {
        guard cooldownUntil != nil else { return nil }
        var pacing = pacing
        guard pacing.takeProbe(call: call, now: now) else {
            return .wait(until: pacing.lookAgain(after: now, windowMilliseconds: budget.windowMilliseconds))
        }
        return .probe(pacing: pacing)
    }

    /// Records a call granted (open, at `now`), whether or not their spends are written yet.
    public mutating func spent(weight: Int, at now: Int64) {
        held += weight
        let spend = WindowBudget.Spend(at: now, weight: weight, open: true)
        if log != nil { log!.append(spend) } else { unwritten.append(spend) }
    }
}
