/// What the provider lately accepted of our calls, by window: the evidence `Pacing.rateLimited(accepted:)` weighs
/// a refusal against. A refusal at a fill the provider has just taken in full is noise, not a limit.
///
/// It counts answers, not the order calls were spent in: calls spent together travel together, and the provider
/// takes them in the order they arrive, so under a real limit of 20 a call spent 18th may be refused while the
/// 24th is accepted. The count of what was accepted is the same whatever the order.
///
/// "Lately" is from `lateWindows` (two) windows before the refused call was sent: a limit that really drops is
/// believed within two windows (refusals in a row meanwhile cool down in full, see `Pacing`); three let the drop in
/// `PacingSimulationTests` draw 45 refusals instead of 40. It keeps the accepted sends of about that long, in time
/// order.
public struct AcceptedPeak: Sendable, Equatable {
    struct Send: Sendable, Equatable {
        var at: Int64
        var weight: Int
    }
    var sends: [Send] = []
    var first = 0 // sends before this index are out of date (dropped in bulk)

    public init() {}

    /// How many windows back a refusal is weighed against.
    public static let lateWindows: Int64 = 2

    /// What a refusal is weighed against.
    public struct Evidence: Sendable, Equatable {
        /// The most weight accepted within any one window, among calls sent from `lateWindows` before the refused
        /// one on.
        public var peak: Int
        /// The weight accepted among calls sent in the refused call's window (from a window before it on): what
        /// the provider took before refusing, in whatever order they arrived.
        public var window: Int

        public init(peak: Int, window: Int) {
            self.peak = peak
            self.window = window
        }

        /// Two accounts of the same provider's acceptances (one runner's answers, every runner's settled ones):
        /// each counts only what it saw, so the larger is the better.
        public static func merged(_ a: Evidence?, _ b: Evidence?) -> Evidence? {
            guard let a, let b else { return a ?? b }
            return Evidence(peak: max(a.peak, b.peak), window: max(a.window, b.window))
        }
    }

    /// The provider accepted a call of `weight` sent at `at`. Answers come nearly in order.
    public mutating func accepted(weight: Int, at: Int64, windowMilliseconds: Int64) {
        var index = sends.count
        while index > first && sends[index - 1].at > at { index -= 1 }
        sends.insert(Send(at: at, weight: weight), at: index)
        let horizon = (sends.last?.at ?? at) - (Self.lateWindows + 1) * windowMilliseconds
        while first < sends.count && sends[first].at < horizon { first += 1 }
        if first > 64 && first * 2 > sends.count {
            sends.removeFirst(first)
            first = 0
        }
    }

    /// The evidence for a refusal of a call sent at `sentAt`; `nil` when nothing was accepted lately.
    public func evidence(sentAt: Int64, windowMilliseconds: Int64) -> Evidence? {
        let from = sentAt - Self.lateWindows * windowMilliseconds
        var start = first
        while start < sends.count && sends[start].at < from { start += 1 }
        var peak = 0, sum = 0, tail = start, window = 0
        for end in start..<sends.count {
            sum += sends[end].weight
            while sends[end].at - sends[tail].at >= windowMilliseconds {
                sum -= sends[tail].weight
                tail += 1
            }
            peak = max(peak, sum)
            if sends[end].at > sentAt - windowMilliseconds { window += sends[end].weight }
        }
        return peak > 0 ? Evidence(peak: peak, window: window) : nil
    }
}
