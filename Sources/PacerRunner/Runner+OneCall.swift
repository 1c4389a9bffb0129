import PacerCore
import PacerProviders
import PacerStorage

extension Runner {
    /// The account stayed in a cool-down longer than a call by hand should wait.
    public struct CoolingDown: Error, Sendable {}
    /// This process was paused (or its database blocked) past half the stale threshold after its token was spent:
    /// nothing was sent.
    public struct PausedTooLong: Error, Sendable, CustomStringConvertible {
        public var description: String { "this process was paused after its token was spent; nothing was sent" }
    }

    /// One call outside the queue (`pacer call`), on the runners' own path: it registers and beats like a runner
    /// (so if this process dies, recovery settles its spend), spends from the account's bucket in the store (so it
    /// cannot push the account over), signs the request at the moment it leaves, and settles the spend at the
    /// answer. Throws `CoolingDown` when no token comes within two windows and a minute.
    public func sendOne(on account: Account, sign: @Sendable () -> SignedRequest) async throws -> HTTPReply {
        try await register(until: nil)
        // Settles what earlier calls killed on this host left open: the first look condemns only processes gone
        // from this host (a heartbeat must stand still over several looks first).
        _ = try? await recover()
        let heartbeat = Task { await self.heartbeatLoop() }
        let result: Result<HTTPReply, any Error>
        do {
            let spend = try await reserveToken(on: account, giveUpAfter: nil)
            // As a runner's worker does: nothing leaves once another process may have declared this one dead (its
            // spend then settled by recovery) after a pause between the token and the send.
            let id = identity.id
            let sent: Result<HTTPReply, any Error> = maySend(as: id)
                ? await Result(catching: { try await transport.send(sign(), mayLeave: { self.maySend(as: id) }) })
                : .failure(PausedTooLong())
            let answered = storeNow()
            // The answer is the user's even if the spend cannot be settled (it is then settled by recovery once
            // this process is gone).
            if (try? await io({ try $0.settle(spend: spend, answeredAt: answered) })) == nil {
                logger.warning("cannot settle this call's token; it is held until recovery settles it")
            }
            result = sent
        } catch {
            result = .failure(error)
        }
        endHeartbeat()
        await heartbeat.value
        let id = identity.id
        _ = try? await io { try $0.unregisterRunner(id) }
        return try result.get()
    }

    /// Waits for one token of the account's bucket and returns the spend, to be settled at the answer
    /// (`settle(spend:answeredAt:)`). Throws `CoolingDown` when none comes within `giveUpAfter` milliseconds
    /// (by default two windows and a minute).
    func reserveToken(on account: Account, giveUpAfter: Int64?) async throws -> Int64 {
        let window = account.limit.bucketWindowMilliseconds(margin: options.marginMilliseconds)
        let giveUpAt = clock.monotonic() + (giveUpAfter ?? 2 * window + 60_000)
        while true {
            let owner = identity.id, clock = self.clock
            switch try await io({ try $0.reserve(account: account.name, weight: 1, owner: owner, now: clock.now,
                                                 windowMilliseconds: window, configuredCount: account.limit.count) }) {
            case .spent(let id):
                return id
            case .wait(let retryAt):
                // The instant is on the store's clock (the database server's on PostgreSQL).
                let wait = max(1, retryAt - storeNow())
                guard clock.monotonic() + wait < giveUpAt, !isStopping else { throw CoolingDown() }
                try await pause(milliseconds: wait)
            }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
