/// The life of a call. `queued` and `retrying` are runnable; `in_flight` is leased by a runner; the rest are final.
public enum CallState: String, Sendable, CaseIterable, Codable {
    case queued
    case inFlight = "in_flight"
    case retrying
    case succeeded
    case failed
    case dead
    case uncertain
    case duplicate

    public var isTerminal: Bool {
        switch self {
        case .queued, .inFlight, .retrying: return false
        case .succeeded, .failed, .dead, .uncertain, .duplicate: return true
        }
    }
}
