import PacerCore

/// What one try's verdict (`NextStep`, from PacerCore's `RetryDecision`) makes of its call: the state it moves
/// to, whether the try used an attempt, when it is due again, the error stored with it, and whether its next try
/// looks the order up by key. Pure; table-tested (`CallStepTests`).
struct CallStep: Sendable, Equatable {
    var state: CallState
    /// False for rate-limit deferrals, a first clock error and a try that could not be judged on its own.
    var countsAsAttempt = true
    var nextAttemptAt: Int64 = 0
    var error: String?
    /// For `retrying`: the next try is a lookup, and why.
    var lookup: LookupReason?

    /// `lookingUp`: this try was a lookup by key (and why). `paused`: for `.failAndPause`, whether the account's
    /// pause was written (if not, the call waits in the queue like its siblings; the next auth answer pauses it).
    static func after(_ step: NextStep, lookingUp: LookupReason?, keyed: Bool, message: String?, now: Int64,
                      paused: Bool = false) -> CallStep {
        switch step {
        case .succeed:
            return CallStep(state: .succeeded)
        case .lookUp(let reason):
            return CallStep(state: .retrying, nextAttemptAt: reason == .probe ? now + LookupReason.settleMilliseconds : now,
                            lookup: reason)
        case .sendAgain:
            // The probe (which counted) found nothing: the order goes out again at once.
            return CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now)
        case .resignNow:
            // The clock is corrected: straight back, signed with the new offset (a lookup stays a lookup).
            return CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now, lookup: lookingUp)
        case .retry(let at, let counts):
            return CallStep(state: .retrying, countsAsAttempt: counts, nextAttemptAt: at, lookup: lookingUp)
        case .fail(let terminal):
            return CallStep(state: terminal, error: failure(terminal, lookup: lookingUp, keyed: keyed, message: message))
        case .failAndPause(let reason):
            // A lookup's call is an order already placed: it waits for the account's resumption rather than fail.
            if paused && lookingUp == nil { return CallStep(state: .failed, error: reason) }
            return CallStep(state: .retrying, countsAsAttempt: false, nextAttemptAt: now, lookup: lookingUp)
        }
    }

    /// The error stored with a call that ended in `terminal`.
    static func failure(_ terminal: CallState, lookup: LookupReason?, keyed: Bool, message: String?) -> String? {
        let detail = message.map { ": " + $0 } ?? ""
        switch (terminal, lookup) {
        case (.uncertain, nil) where keyed:
            return "the order may have been placed by a try whose answer was lost, and its tries ran out" + detail
        case (.uncertain, nil):
            return "the request may have reached the provider and the call is not idempotent: not sent again"
        case (.uncertain, _):
            return "the order may have been placed: looking it up by its key did not tell" + detail
        case (.failed, .confirm?):
            return "the provider answered duplicate key, but looking the order up by its key finds none" + detail
        case (.duplicate, _?):
            return nil // found: the result holds the order
        default:
            return message
        }
    }
}
