import PacerStorage
import Synchronization

/// Bounds the calls a runner holds claimed and not yet sent to about what it can send in `horizonMilliseconds` (5 s).
///
/// Claimed calls are leased to this runner: no other runner may send them. A runner whose answers are slow (a
/// provider 200 ms away, 64 requests in flight: 320 calls a second) that claims a few calls for each of a thousand
/// accounts holds thousands, seconds of its own work, while another runner on the same database, done with its
/// share, finds nothing left to claim. So each claim commit is trimmed to the room left under the limit (every
/// request keeps at least one call: no account waits on another's backlog), and the limit follows the runner's
/// pace: `concurrency` requests in flight, each taking the recent answer time (Little's law). Fast answers give a
/// limit far above any claim, which then goes untrimmed. See docs/postgres.md ("Many accounts, several runners").
final class ClaimBudget: Sendable {
    let concurrency: Int
    let horizonMilliseconds: Int64
    /// Claimed and about to be sent, over every worker of this runner (`WorkerQueue.held`: calls waiting for
    /// tokens do not count). Each worker adds its own at the top of its loop, so a commit that follows another at
    /// once may not see the calls just claimed: the bound is soft, about one commit over.
    private let held = Atomic<Int>(0)
    /// Recent answer time (an exponential average), in milliseconds; nil before the first answer.
    private let latency = Mutex<Double?>(nil)
    /// Assumed until the first answer: a provider far away, so that the first claims (every account at once)
    /// do not take seconds of work before the runner knows its pace.
    static let assumedLatencyMilliseconds = 200.0

    init(concurrency: Int, horizonMilliseconds: Int64 = 5_000) {
        self.concurrency = max(1, concurrency)
        self.horizonMilliseconds = horizonMilliseconds
    }

    /// A worker's calls held went up or down by `delta`.
    func add(_ delta: Int) {
        if delta != 0 { held.add(delta, ordering: .relaxed) }
    }

    var holding: Int { held.load(ordering: .relaxed) }

    func noteAnswer(milliseconds: Int64) {
        latency.withLock { $0 = $0.map { $0 * 0.9 + Double(max(1, milliseconds)) * 0.1 } ?? Double(max(1, milliseconds)) }
    }

    /// The most calls this runner should hold now.
    var limit: Int {
        Self.limit(concurrency: concurrency, horizonMilliseconds: horizonMilliseconds,
                   latencyMilliseconds: latency.withLock { $0 } ?? Self.assumedLatencyMilliseconds)
    }

    func trim(_ requests: [ClaimRequest]) -> [ClaimRequest] {
        Self.trim(requests, room: limit - holding)
    }

    /// What `concurrency` requests in flight, each answered in `latencyMilliseconds`, send in the horizon.
    static func limit(concurrency: Int, horizonMilliseconds: Int64, latencyMilliseconds: Double) -> Int {
        let sends = Double(concurrency) * Double(horizonMilliseconds) / max(1, latencyMilliseconds)
        return Int(min(sends, Double(Int.max / 2)))
    }

    /// Shares `room` calls over the requests in proportion to what each asked for, each keeping at least one.
    static func trim(_ requests: [ClaimRequest], room: Int) -> [ClaimRequest] {
        let asked = requests.reduce(0) { $0 + $1.max }
        guard asked > room else { return requests }
        let room = max(0, room)
        return requests.map { request in
            var trimmed = request
            trimmed.max = max(1, min(request.max, request.max * room / asked))
            return trimmed
        }
    }
}
