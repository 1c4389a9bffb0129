import PacerCore
import PacerProviders
import Synchronization

/// An account's settings as its worker uses them: the stored account (limit, base URL, credential references)
/// and the credentials resolved from it. The runner's loop re-reads the accounts every second and updates this
/// box, so a change (`account add --replace`, a fixed secret before `account resume`, `account remove`) reaches
/// a running worker within about a second. The worker reads it at each use: its next claim, spend and signature.
final class AccountSettings: Sendable {
    private struct State {
        var account: Account
        var credentials: Credentials
        var removed = false
        /// The provider refused these credentials (the account was paused for it): read them again on resume,
        /// even if the runner never saw the account paused between two of its reads.
        var refused = false
    }
    private let state: Mutex<State>

    init(_ account: Account, credentials: Credentials) {
        state = Mutex(State(account: account, credentials: credentials))
    }

    var account: Account { state.withLock { $0.account } }
    var credentials: Credentials { state.withLock { $0.credentials } }
    /// The account was removed: its worker gives back what it holds and ends.
    var removed: Bool { state.withLock { $0.removed } }

    /// What a newly read account row asks of the worker; returns whether the credentials were read again. (A new
    /// provider is a new worker, see `Runner.startWorkers`: the calls in flight are judged by the provider they
    /// were sent to.) `resolve` reads the secrets again, only when they may
    /// have changed: other references, or an account resumed (its secret file or variable fixed meanwhile).
    /// Throws what `resolve` throws, changing nothing.
    @discardableResult
    func update(to fresh: Account, resolve: (Account) throws -> Credentials) throws -> Bool {
        let (current, refused) = state.withLock { ($0.account, $0.refused) }
        guard fresh != current || (refused && fresh.pausedReason == nil) else { return false }
        let resumed = (current.pausedReason != nil || refused) && fresh.pausedReason == nil
        let credentials: Credentials?
        do {
            credentials = fresh.pausedReason == nil && (resumed || fresh.credentials != current.credentials)
                ? try resolve(fresh) : nil
        } catch {
            // Unreadable: the runner pauses the account; nothing is sent with the old secret meanwhile.
            state.withLock { $0.refused = true }
            throw error
        }
        state.withLock { s in
            s.account = fresh
            if let credentials {
                s.credentials = credentials
                s.refused = false
            }
        }
        return credentials != nil
    }

    /// The provider refused the credentials and the account was paused for it.
    func credentialsRefused() { state.withLock { $0.refused = true } }
    /// Until fresh credentials are read (on resume), nothing is sent with the refused ones.
    var held: Bool { state.withLock { $0.refused } }

    func remove() { state.withLock { $0.removed = true } }
}
