import PacerCore
import PacerJobs
import PacerProviders

/// What each call of a job costs on one account (docs/pools.md): the pools it asks for and its weight. The
/// provider's endpoint table decides both unless the job says `pool:` or `weight:`; a call that could never be
/// sent (no pool to draw from, a weight above a window's count) is refused at enqueue, naming the file.
struct JobCost: Sendable, Equatable {
    var demand: PoolDemand
    var weight: Int
    /// The pools it draws from as the account is now (`plan` shows them).
    var draws: [PoolDraw]

    init(_ spec: JobSpec, on account: Account, sharedPools: [String: [RateLimit]]) throws(JobFileError) {
        let method = spec.request.method, path = spec.request.path.text
        let table = account.provider.api.endpoints.cost(method: method, path: path, baseURL: account.baseURL)
        weight = spec.weightIsExplicit ? spec.weight : table.weight
        let pools = account.limits.pools.map { PoolKey.display($0.name) }.joined(separator: ", ")
        if let pool = spec.pool {
            guard account.limits.pool(named: pool) != nil else {
                throw spec.error("pool", "account '\(account.name)' has no pool '\(pool)' (its pools: \(pools))")
            }
            demand = PoolDemand(names: [pool])
        } else {
            demand = table.demand
        }
        let (draws, unresolved) = account.limits.draws(account: account.name, demand: demand, sharedPools: sharedPools)
        if let missing = unresolved.first {
            throw spec.error("request", "\(method.rawValue) \(path) draws from pool '\(missing)', which account "
                             + "'\(account.name)' lacks, and it has no default pool (its pools: \(pools)); give the "
                             + "job 'pool:' or the account a default limit")
        }
        for draw in draws {
            for window in draw.windows where weight > window.count {
                throw spec.error(spec.weightIsExplicit ? "weight" : "request",
                                 "weight \(weight) is more than pool '\(PoolKey.display(draw.name))' of account "
                                 + "'\(account.name)' may send in a whole window (\(window)); such a call could never be sent")
            }
        }
        self.draws = draws
    }

    /// The call with this cost and the job's priority.
    func applied(to call: NewCall, priority: Int) -> NewCall {
        var call = call
        call.weight = weight
        call.pools = demand
        call.priority = priority
        return call
    }
}
