import PacerCore
import PacerLimits
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
    public func sendOne(on account: Account, cost: EndpointCost,
                        sign: @Sendable () -> SignedRequest) async throws -> HTTPReply {
        try await register(until: nil)
        // Settles what earlier calls killed on this host left open: the first look condemns only processes gone
        // from this host (a heartbeat must stand still over several looks first).
        _ = try? await recover()
        let heartbeat = Task { await self.heartbeatLoop() }
        let result: Result<HTTPReply, any Error>
        do {
            try await refreshSharedPools()
            let spends = try await reserveToken(on: account, cost: cost, giveUpAfter: nil)
            // As a runner's worker does: nothing leaves once another process may have declared this one dead (its
            // spend then settled by recovery) after a pause between the token and the send.
            let id = identity.id
            let sent: Result<HTTPReply, any Error> = maySend(as: id)
                ? await Result(catching: { try await transport.send(sign(), mayLeave: { self.maySend(as: id) }) })
                : .failure(PausedTooLong())
            let answered = storeNow()
            // The answer is the user's even if the spend cannot be settled (it is then settled by recovery once
            // this process is gone).
            if (try? await io({ try $0.settle(spends: spends, answeredAt: answered) })) == nil {
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

    /// Waits for the tokens a call of `cost` draws from the account's pools (all of them at once) and returns the
    /// spends, to be settled at the answer (`settle(spends:answeredAt:)`). Throws `CoolingDown` when they do not
    /// come within `giveUpAfter` milliseconds (by default two windows and a minute).
    func reserveToken(on account: Account, cost: EndpointCost, giveUpAfter: Int64?) async throws -> [Int64] {
        let margin = options.marginMilliseconds
        let drawn = account.limits.draws(account: account.name, demand: cost.demand, sharedPools: sharedPools.current).draws
        var pools: [String: PoolWindows] = [:]
        for draw in drawn {
            pools[draw.key] = PoolWindows(draw.windows.map {
                .init(count: $0.count, milliseconds: $0.bucketWindowMilliseconds(margin: margin))
            })
        }
        let wanted = pools, longest = pools.values.map(\.longest).max() ?? 1_000
        let giveUpAt = clock.monotonic() + (giveUpAfter ?? 2 * longest + 60_000)
        while true {
            let owner = identity.id, clock = self.clock, weight = cost.weight
            let reservation = try await io({ try $0.reserve(pools: wanted, weight: weight, owner: owner, now: clock.now) })
            switch reservation {
            case .spent:
                return reservation.spends
            case .wait(let retryAt):
                // The instant is on the store's clock (the database server's on PostgreSQL).
                let wait = max(1, retryAt - storeNow())
                guard clock.monotonic() + wait < giveUpAt, !isStopping else { throw CoolingDown() }
                try await pause(milliseconds: wait)
            }
        }
    }

    /// Reads the shared pools now (a runner's loop re-reads them every second).
    func refreshSharedPools() async throws {
        let pools = try await io({ try $0.sharedPools() })
        sharedPools.update(Dictionary(uniqueKeysWithValues: pools.map { ($0.name, $0.windows) }))
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
