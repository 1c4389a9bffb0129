import PacerCore
import PacerJobs
import PacerProviders

/// What each call of a job costs on one account (docs/pools.md): the pools it asks for and its weight. The
/// provider's endpoint table decides both unless the job says `pool:` or `weight:`; a call that could never be
/// sent (no pool to draw from, a weight above a window's count) is refused at enqueue, naming the file.
struct JobCost: Sendable {
    var demand: PoolDemand
    var weight: Int
    /// The pools it draws from as the account is now (`plan` shows them).
    var draws: [PoolDraw]

    /// Whether each call must be costed from its rendered path (`JobCost(_:on:sharedPools:path:)`): the path has
    /// a template where the provider's table tells endpoints apart by a literal segment (`/api/v1/{{item}}`).
    let perCall: Bool

    /// - Parameter path: a rendered call's path; by default the job's path template.
    init(_ spec: JobSpec, on account: Account, sharedPools: [String: [RateLimit]], path: String? = nil) throws(JobFileError) {
        let method = spec.request.method, template = spec.request.path.text, path = path ?? template
        let endpoints = account.provider.api.endpoints
        let table = endpoints.cost(method: method, path: path, baseURL: account.baseURL)
        perCall = endpoints.dependsOnVariableSegments(method: method, path: template, baseURL: account.baseURL) {
            $0.contains("{{")
        }
        weight = spec.weightIsExplicit ? spec.weight : table.weight
        let pools = account.limits.pools.map { PoolKey.display($0.name) }.joined(separator: ", ")
        if let pool = spec.pool {
            guard account.limits.pool(named: pool) != nil else {
                throw spec.error("pool", "account '\(account.name)' has no pool '\(pool)' (its pools: \(pools))")
            }
            // Instead of the endpoint's own pool; the table's other pools (Bit-Z's overall minute) still hold.
            demand = PoolDemand(names: [pool] + table.demand.names.dropFirst())
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
        (self.spec, self.account, self.sharedPools) = (spec, account, sharedPools)
    }

    private let spec: JobSpec
    private let account: Account
    private let sharedPools: [String: [RateLimit]]

    /// The cost of one rendered call: this one, unless the job must be costed call by call (`perCall`).
    func of(_ call: NewCall) throws(JobFileError) -> JobCost {
        perCall ? try JobCost(spec, on: account, sharedPools: sharedPools, path: call.path) : self
    }

    /// The call with its cost and the job's priority.
    func applied(to call: NewCall, priority: Int) throws(JobFileError) -> NewCall {
        let cost = try of(call)
        var call = call
        call.weight = cost.weight
        call.pools = cost.demand
        call.priority = priority
        return call
    }
}
