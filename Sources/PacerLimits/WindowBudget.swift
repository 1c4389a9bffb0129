/// The limiter's maths: a token bucket whose spent tokens come back exactly one window after they were spent.
///
/// A classic bucket refills continuously and starts full, so it lets `2N` through across a window boundary (a
/// full bucket spent at the end of one window, refilled tokens spent at the start of the next). Here a token spent
/// at `t` returns at `t + W'`, never sooner, which is the same as a strict sliding window: the weights sent in any
/// interval of length `W'` never exceed `capacity`. `W'` is the provider's window plus a safety margin, so calls
/// that leave us exactly `W` apart still arrive at least `W` apart despite network jitter.
///
/// A spend whose answer has not arrived yet is *open*: it holds its tokens however old it is, because the request
/// may still be on its way and the provider counts it when it arrives. Once answered, it returns one window after
/// the later of its dispatch and its answer.
///
/// The state is the log of sends still inside the window (kept in SQLite, so every process sharing the database
/// spends from the same bucket). Pure: `now` is always passed in.
public struct WindowBudget: Sendable, Equatable {
    /// Tokens in a full bucket: the account's `N`, or less while it is paced down after rate-limit answers.
    public var capacity: Int
    /// How long a spent token stays spent: the provider's window plus the margin.
    public var windowMilliseconds: Int64

    public init(capacity: Int, windowMilliseconds: Int64) {
        self.capacity = capacity
        self.windowMilliseconds = windowMilliseconds
    }

    /// One earlier send still holding tokens.
    public struct Spend: Sendable, Equatable {
        public var at: Int64
        public var weight: Int
        /// Still waiting for its answer: holds its tokens until it is settled.
        public var open: Bool
        public init(at: Int64, weight: Int, open: Bool = false) {
            self.at = at
            self.weight = weight
            self.open = open
        }
    }

    /// Whether a spend still holds its tokens at `now`.
    func holds(_ spend: Spend, now: Int64) -> Bool { spend.open || now - spend.at < windowMilliseconds }

    /// Tokens available at `now`, given the sends so far (any order; settled ones outside the window are ignored).
    public func tokens(now: Int64, log: [Spend]) -> Int {
        capacity - log.filter { holds($0, now: now) && ($0.open || $0.at <= now) }.reduce(0) { $0 + $1.weight }
    }

    /// How soon to look again when only open spends stand in the way: their answers can come at any moment.
    public var openRecheckMilliseconds: Int64 { max(1, min(windowMilliseconds / 20, 50)) }

    public enum Decision: Sendable, Equatable {
        /// Spend now.
        case send
        /// Not enough tokens until this instant (when enough spent tokens have returned).
        case wait(until: Int64)
    }

    /// Whether a call of `weight` may be sent at `now`, and if not, the earliest instant it may.
    public func decide(weight: Int, now: Int64, log: [Spend]) -> Decision {
        precondition(weight >= 1, "weights are at least 1")
        guard weight <= capacity else {
            // Cannot fit even in an empty bucket (the account is paced below this weight): wait a whole window.
            return .wait(until: now + windowMilliseconds)
        }
        let live = log.filter { holds($0, now: now) }
        var spent = live.reduce(0) { $0 + $1.weight }
        if spent + weight <= capacity { return .send }
        // Settled tokens return oldest first; find the instant enough have come back.
        for spend in live.filter({ !$0.open }).sorted(by: { $0.at < $1.at }) {
            spent -= spend.weight
            if spent + weight <= capacity { return .wait(until: spend.at + windowMilliseconds) }
        }
        // Only answers still on their way can free enough: look again soon.
        return .wait(until: now + openRecheckMilliseconds)
    }

    /// When a runner is found dead, its unanswered spends are settled this long after the verdict: a request it
    /// had passed to its HTTP client may still leave that much later (the transport's connect timeout).
    public static let deadOwnerGraceMilliseconds: Int64 = 10_000

    /// How long settled spends are kept before trimming: far longer than any window plus margin a caller may use
    /// (runners may run with different `--margin`s), and long enough for a rate limit to look back over them.
    public static func keepSettledMilliseconds(windowMilliseconds: Int64) -> Int64 {
        max(2 * windowMilliseconds, 60_000)
    }
}
