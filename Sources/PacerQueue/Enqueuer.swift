import Foundation
import PacerCore
import PacerJobs
import PacerProviders
import PacerStorage

/// `pacer enqueue`: validate every job file, then queue them all in one transaction.
///
/// Validation happens in two rounds before anything is written: each file is parsed (which opens its items
/// file and reads any CSV header), then each job is checked against its account. Items are streamed from their
/// files inside the store's transaction; an error found there (a bad line 700,000 of a file) rolls back every
/// run of the command, so a failed enqueue leaves the database exactly as it was.
public struct Enqueuer {
    let store: any PacerStore
    let nowMilliseconds: () -> Int64
    /// Makes `{{key}}` values (random unless a test fixes them).
    var makeKey: () -> String = CallKey.random

    public init(store: any PacerStore, nowMilliseconds: @escaping () -> Int64) {
        self.store = store
        self.nowMilliseconds = nowMilliseconds
    }

    public func enqueue(files: [String], uniqueWithinMilliseconds: Int64? = nil, strict: Bool = false,
                        warn: (JobFileError) -> Void = { _ in }) throws -> [EnqueuedRun] {
        let specs = try files.map { file throws(JobFileError) in try JobFileParser.parse(file: file) }
        return try enqueue(specs: specs, uniqueWithinMilliseconds: uniqueWithinMilliseconds, strict: strict, warn: warn)
    }

    /// - Parameters:
    ///   - strict: refuse a non-idempotent job its provider could deduplicate with `{{key}}` and that has none
    ///     (see `unkeyedOrders`); without it such a job is queued and `warn` is told.
    public func enqueue(specs: [JobSpec], scheduleTick: Int64? = nil, uniqueWithinMilliseconds: Int64? = nil,
                        strict: Bool = false, warn: (JobFileError) -> Void = { _ in }) throws -> [EnqueuedRun] {
        var costs: [[String: JobCost]] = []
        var enqueued = try store.enqueue(prepared(specs: specs, scheduleTick: scheduleTick,
                                                  uniqueWithinMilliseconds: uniqueWithinMilliseconds, strict: strict,
                                                  warn: warn, costs: &costs))
        // What each run draws from, for `enqueue` to show.
        let byJob = Dictionary(zip(specs.map(\.name), costs), uniquingKeysWith: { first, _ in first })
        for i in enqueued.indices {
            guard let cost = byJob[enqueued[i].job]?[enqueued[i].account] else { continue }
            enqueued[i].pools = cost.draws.map { PoolKey.display($0.name) }
            enqueued[i].weight = cost.weight
        }
        return enqueued
    }

    /// The runs `enqueue` would write, checked against the store, with their calls still to be produced (items are
    /// read as the calls are): what `enqueue` hands the store and `plan` counts.
    func prepared(specs: [JobSpec], scheduleTick: Int64? = nil, uniqueWithinMilliseconds: Int64? = nil,
                  strict: Bool = false, warn: (JobFileError) -> Void = { _ in }) throws -> [RunToEnqueue] {
        var costs: [[String: JobCost]] = []
        return try prepared(specs: specs, scheduleTick: scheduleTick, uniqueWithinMilliseconds: uniqueWithinMilliseconds,
                            strict: strict, warn: warn, costs: &costs)
    }

    /// `prepared`, telling what each job's calls cost on each of its accounts (`costs`, in the order of `specs`).
    func prepared(specs: [JobSpec], scheduleTick: Int64?, uniqueWithinMilliseconds: Int64?, strict: Bool,
                  warn: (JobFileError) -> Void, costs: inout [[String: JobCost]]) throws -> [RunToEnqueue] {
        let targets: [[String]]
        (targets, costs) = try checked(specs)
        for unkeyed in try unkeyedOrders(specs, targets: targets) {
            if strict { throw unkeyed }
            warn(unkeyed)
        }
        let now = nowMilliseconds()
        let providers = try self.providers(specs)
        let makeKey = self.makeKey
        var runs: [RunToEnqueue] = []
        for ((spec, accounts), cost) in zip(zip(specs, targets), costs) {
            /// Settles what the account's provider decides about a call: whether it is idempotent (`idempotent`),
            /// whether it is keyed (its key sits in the provider's dedupe field for its endpoint), and what it costs
            /// in which pools (`JobCost`).
            func keyed(_ call: NewCall, account: String) throws -> NewCall {
                var call = try cost[account]?.applied(to: call, priority: spec.priority) ?? call
                let provider = providers[account]
                call.idempotent = Self.idempotent(spec, provider: provider, method: call.method, path: call.path)
                guard call.key != nil, let provider,
                      let field = provider.api.dedupeField(method: call.method, path: call.path) else { return call }
                call.keyed = spec.putsKey(inField: field)
                return call
            }
            func run(_ account: String) -> NewRun {
                NewRun(job: spec.name, account: account, jobFile: spec.file, retry: spec.retry,
                       overrides: spec.overrides, createdAtMilliseconds: now, scheduleTick: scheduleTick,
                       uniqueWithinMilliseconds: uniqueWithinMilliseconds)
            }
            if case .perItem = spec.target {
                runs.append(RunToEnqueue(run: run(spec.account), routed: true) { emit in
                    var planner = try CallPlanner(spec, makeKey: makeKey)
                    while let call = try planner.next() { try emit(try keyed(call, account: call.account ?? "")) }
                })
                continue
            }
            for account in accounts {
                runs.append(RunToEnqueue(run: run(account)) { emit in
                    var planner = try CallPlanner(spec, account: account, makeKey: makeKey)
                    while let call = try planner.next() { try emit(try keyed(call, account: account)) }
                })
            }
        }
        return runs
    }

    /// The provider of every registered account, when some job uses `{{key}}` or leaves `idempotent` to the
    /// default (and only then: a job that says both needs none of this).
    private func providers(_ specs: [JobSpec]) throws -> [String: Provider] {
        guard specs.contains(where: { $0.usesKey || !$0.idempotentIsExplicit }) else { return [:] }
        return Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0.provider) })
    }

    /// Whether a call of `spec` to `path` is idempotent on an account of `provider`: the job's own `idempotent:`,
    /// else not for an endpoint the provider documents as placing orders (it deduplicates them on a client key:
    /// Kookeey's order methods are GETs, and a GET retried after a lost answer would buy twice), else the HTTP
    /// method's default.
    public static func idempotent(_ spec: JobSpec, provider: Provider?, method: HTTPMethod, path: String) -> Bool {
        if spec.idempotentIsExplicit { return spec.idempotent }
        if let provider, provider.api.dedupeField(method: method, path: path) != nil { return false }
        return spec.idempotent
    }

    /// Non-idempotent jobs that could be keyed and are not: their provider deduplicates the endpoint on a field
    /// that does not hold `{{key}}`, so a lost answer leaves such a call `uncertain` where a key would have made
    /// re-sending safe. `enqueue` prints these; `enqueue --strict` refuses the job.
    public func unkeyedOrders(_ specs: [JobSpec], targets: [[String]]) throws -> [JobFileError] {
        var providers: [String: Provider]?
        var found: [JobFileError] = []
        for (spec, accounts) in zip(specs, targets) where !spec.idempotent || !spec.idempotentIsExplicit {
            if providers == nil { providers = Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0.provider) }) }
            let path = spec.request.path.text
            for provider in Set(accounts.compactMap { providers?[$0] }).sorted(by: { $0.rawValue < $1.rawValue }) {
                guard !Self.idempotent(spec, provider: provider, method: spec.request.method, path: path),
                      let field = provider.api.dedupeField(method: spec.request.method, path: path),
                      !spec.putsKey(inField: field) else { continue }
                found.append(spec.error("request", "\(provider.rawValue) deduplicates \(spec.request.method.rawValue) \(path) "
                    + "on '\(field)': put \(field): \"{{key}}\" in the request, or a call whose answer is lost ends "
                    + "uncertain instead of being sent again safely"))
            }
        }
        return found
    }

    /// Checks that need the store, and the accounts each job goes to: every account exists (for jobs that route
    /// items, every name in the items, with the items file and line of the first unknown one), each glob matches
    /// something, and a call can ever be sent on each account (`JobCost`).
    @discardableResult
    public func check(_ specs: [JobSpec]) throws -> [[String]] { try checked(specs).targets }

    /// `check`, with what each job's calls cost on each of its accounts.
    func checked(_ specs: [JobSpec]) throws -> (targets: [[String]], costs: [[String: JobCost]]) {
        var names = Set<String>()
        var registered: [String: Account]?
        func all() throws -> [String: Account] {
            if let registered { return registered }
            let loaded = Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0) })
            registered = loaded
            return loaded
        }
        var targets: [[String]] = [], costs: [[String: JobCost]] = []
        var sharedPools: [String: [RateLimit]]?
        for spec in specs {
            guard names.insert(spec.name).inserted else {
                throw spec.error("name", "two job files given here are both named '\(spec.name)'")
            }
            var accounts: [Account] = []
            switch spec.target {
            case .one(let name):
                guard let account = try store.account(named: name) else {
                    throw spec.error("account", "no account named '\(name)' (see `pacer account add`)")
                }
                accounts = [account]
            case .matching(let patterns):
                let known = try all()
                var chosen = Set<String>()
                for pattern in patterns {
                    let matches = known.keys.filter { AccountPattern.matches(pattern, $0) }
                    guard !matches.isEmpty else {
                        throw spec.error("accounts", "no account matches '\(pattern)' (see `pacer account list`)")
                    }
                    chosen.formUnion(matches)
                }
                accounts = chosen.sorted().map { known[$0]! }
            case .perItem:
                let known = try all()
                var seen = Set<String>()
                try CallPlanner.routedAccounts(spec) { name, file, line in
                    guard seen.insert(name).inserted else { return }
                    guard known[name] != nil else {
                        throw JobFileError(file: file, line: line, column: 1, field: "account",
                                           message: "item names account '\(name)', which is not registered "
                                               + "(see `pacer account add`)")
                    }
                }
                accounts = seen.sorted().compactMap { known[$0] }
            }
            var cost: [String: JobCost] = [:]
            for account in accounts {
                if sharedPools == nil {
                    sharedPools = Dictionary(uniqueKeysWithValues: try store.sharedPools().map { ($0.name, $0.windows) })
                }
                cost[account.name] = try JobCost(spec, on: account, sharedPools: sharedPools!)
            }
            costs.append(cost)
            targets.append(accounts.map(\.name))
        }
        return (targets, costs)
    }
}

/// Shell-style account globs for `accounts:`: `*` any run of characters, `?` one character, `[abc]` a set.
enum AccountPattern {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
