/// The spend decision for a batch of requests (several accounts, or one account several times), made in order at
/// one `now`: which calls may leave, when the rest may be tried, and which cool-down probes were taken. Pure: the
/// store supplies each account's pacing and held weight (one read each for the whole batch) and, only when a call
/// does not fit, the account's spends (`readLog`). Every store runs this same decision (docs/internals.md).
public struct SpendBatch {
    /// Tokens wanted for some of an account's calls, in order.
    public struct Want: Sendable {
        public var account: String
        public var calls: [(id: Int64, weight: Int)]
        public var windowMilliseconds: Int64

        public init(account: String, calls: [(id: Int64, weight: Int)], windowMilliseconds: Int64) {
            self.account = account
            self.calls = calls
            self.windowMilliseconds = windowMilliseconds
        }
    }

    /// What one want got.
    public struct Decision: Sendable {
        /// The calls that may leave now, in order (to be marked dispatched and spent).
        public var fitting: [(id: Int64, weight: Int)]
        /// When the first call that did not fit may be tried (`nil`: all fit); while a probe goes, the cool-down's
        /// end (the rest waits for the probe's answer, or the term).
        public var retryAt: Int64?
        /// When to look again should the probe not go after all (its lease was lost before it was marked): a new
        /// probe may then be taken at once.
        public var retryAtWithoutProbe: Int64?
        /// The one fitting call is the cool-down's probe; `probing` is the pacing to save once it is spent.
        public var probing: Pacing?
    }

    /// Decides `wants` in order at `now`. `pacings` has every account's pacing (its configured count set), `held`
    /// the weight each account holds at `now`. A later want of the same account sees the calls fitted before it
    /// as spent.
    public static func decide(_ wants: [Want], now: Int64, pacings: [String: Pacing], held: [String: Int],
                              readLog: (_ account: String, _ since: Int64) throws -> [WindowBudget.Spend]) rethrows
        -> [Decision] {
        var buckets: [String: SpendBucket] = [:]
        var pacings = pacings
        var decisions: [Decision] = []
        for want in wants {
            let window = want.windowMilliseconds
            let pacing = pacings[want.account]!
            var bucket = buckets[want.account] ?? SpendBucket(
                budget: WindowBudget(capacity: pacing.capacity(now: now, windowMilliseconds: window),
                                     windowMilliseconds: window),
                cooldownUntil: pacing.cooldownUntil > now ? pacing.cooldownUntil : nil,
                held: held[want.account] ?? 0)
            // Cooling down: nothing leaves, unless the cool-down's probe may go.
            var calls = want.calls, probing: Pacing?
            switch bucket.coolDownGate(calls, pacing: pacing, now: now) {
            case .wait(let until)?:
                buckets[want.account] = bucket
                decisions.append(Decision(fitting: [], retryAt: until, retryAtWithoutProbe: until, probing: nil))
                continue
            case .probe(let call, let taken)?:
                (calls, probing) = ([call], taken)
            case nil:
                break
            }
            var (fitting, retryAt) = try bucket.plan(calls, now: now) { try readLog(want.account, now - window) }
            bucket.spent(fitting, at: now)
            buckets[want.account] = bucket
            let withoutProbe = retryAt
            if let probing, !fitting.isEmpty {
                pacings[want.account] = probing
                retryAt = bucket.cooldownUntil
            } else {
                probing = nil
            }
            decisions.append(Decision(fitting: fitting, retryAt: retryAt, retryAtWithoutProbe: withoutProbe,
                                      probing: probing))
        }
        return decisions
    }
}
