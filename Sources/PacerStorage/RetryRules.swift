import PacerCore

/// The rules of `retry` and `cancel` both stores apply.
public enum RetryRules {
    public static let cancelledError = "cancelled by an operator (pacer cancel)"

    public static func check(_ states: Set<CallState>) throws {
        guard !states.isEmpty else { throw StoreError(.invalid, "no state to retry") }
        let wrong = states.subtracting(CallState.retryable)
        guard wrong.isEmpty else {
            throw StoreError(.invalid, "cannot retry \(wrong.map(\.rawValue).sorted().joined(separator: ", ")) calls: "
                             + "retry takes failed, dead, cancelled and (named explicitly) uncertain")
        }
    }

    public static func requireFinished(run: Int64, unfinished: Int) throws {
        guard unfinished == 0 else {
            throw StoreError(.conflict, "run \(run) is still running (\(unfinished) call(s) not final): retry it once it "
                             + "has finished, or cancel it first")
        }
    }
}
