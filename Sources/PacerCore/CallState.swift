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
    /// Stopped by an operator (`pacer cancel`) before it was sent, or before its next try.
    case cancelled

    public var isTerminal: Bool {
        switch self {
        case .queued, .inFlight, .retrying: return false
        case .succeeded, .failed, .dead, .uncertain, .duplicate, .cancelled: return true
        }
    }

    /// The final states an operator may put back in the queue (`pacer retry`). `uncertain` only when named: its
    /// call may have been performed already.
    public static let retryable: Set<CallState> = [.failed, .dead, .uncertain, .cancelled]
    public static let retriedByDefault: Set<CallState> = [.failed, .dead]
}
