import Foundation
import PacerCore
import PacerJobs
import PacerStore

/// `pacer enqueue`: validate every job file, then queue them all in one transaction.
///
/// Validation happens in two rounds before anything is written: each file is parsed (which opens its items
/// file and reads any CSV header), then each job is checked against its account. Items are streamed from their
/// files inside the store's transaction; an error found there (a bad line 700,000 of a file) rolls back every
/// run of the command, so a failed enqueue leaves the database exactly as it was.
public struct Enqueuer {
    let store: any PacerStore
    let nowMilliseconds: () -> Int64

    public init(store: any PacerStore, nowMilliseconds: @escaping () -> Int64) {
        self.store = store
        self.nowMilliseconds = nowMilliseconds
    }

    public func enqueue(files: [String], uniqueWithinMilliseconds: Int64? = nil) throws -> [EnqueuedRun] {
        let specs = try files.map { file throws(JobFileError) in try JobFileParser.parse(file: file) }
        return try enqueue(specs: specs, uniqueWithinMilliseconds: uniqueWithinMilliseconds)
    }

    public func enqueue(specs: [JobSpec], scheduleTick: Int64? = nil,
                        uniqueWithinMilliseconds: Int64? = nil) throws -> [EnqueuedRun] {
        let targets = try check(specs)
        let now = nowMilliseconds()
        var runs: [RunToEnqueue] = []
        for (spec, accounts) in zip(specs, targets) {
            func run(_ account: String) -> NewRun {
                NewRun(job: spec.name, account: account, jobFile: spec.file, retry: spec.retry,
                       overrides: spec.overrides, createdAtMilliseconds: now, scheduleTick: scheduleTick,
                       uniqueWithinMilliseconds: uniqueWithinMilliseconds)
            }
            if case .perItem = spec.target {
                runs.append(RunToEnqueue(run: run(spec.account), routed: true) { emit in
                    var planner = try CallPlanner(spec)
                    while let call = try planner.next() { try emit(call) }
                })
                continue
            }
            for account in accounts {
                runs.append(RunToEnqueue(run: run(account)) { emit in
                    var planner = try CallPlanner(spec, account: account)
                    while let call = try planner.next() { try emit(call) }
                })
            }
        }
        return try store.enqueue(runs)
    }

    /// Checks that need the store, and the accounts each job goes to: every account exists (for jobs that route
    /// items, every name in the items, with the items file and line of the first unknown one), each glob matches
    /// something, and a call's weight can ever fit each account's limit.
    @discardableResult
    public func check(_ specs: [JobSpec]) throws -> [[String]] {
        var names = Set<String>()
        var registered: [String: Account]?
        func all() throws -> [String: Account] {
            if let registered { return registered }
            let loaded = Dictionary(uniqueKeysWithValues: try store.accounts().map { ($0.name, $0) })
            registered = loaded
            return loaded
        }
        var targets: [[String]] = []
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
            for account in accounts where spec.weight > account.limit.count {
                throw spec.error("weight", "weight \(spec.weight) is more than account '\(account.name)' may send "
                                 + "in a whole window (\(account.limit)); such a call could never be sent")
            }
            targets.append(accounts.map(\.name))
        }
        return targets
    }
}

/// Shell-style account globs for `accounts:`: `*` any run of characters, `?` one character, `[abc]` a set.
enum AccountPattern {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
