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
        try check(specs)
        let now = nowMilliseconds()
        let runs = specs.map { spec in
            RunToEnqueue(run: NewRun(job: spec.name, account: spec.account, jobFile: spec.file, retry: spec.retry,
                                     overrides: spec.overrides, createdAtMilliseconds: now, scheduleTick: scheduleTick,
                                     uniqueWithinMilliseconds: uniqueWithinMilliseconds)) { emit in
                var planner = try CallPlanner(spec)
                while let call = try planner.next() { try emit(call) }
            }
        }
        return try store.enqueue(runs)
    }

    /// Checks that need the store: the account exists, and a call's weight can ever fit its limit.
    public func check(_ specs: [JobSpec]) throws {
        var names = Set<String>()
        for spec in specs {
            guard names.insert(spec.name).inserted else {
                throw spec.error("name", "two job files given here are both named '\(spec.name)'")
            }
            guard let account = try store.account(named: spec.account) else {
                throw spec.error("account", "no account named '\(spec.account)' (see `pacer account add`)")
            }
            if spec.weight > account.limit.count {
                throw spec.error("weight", "weight \(spec.weight) is more than account '\(account.name)' may send "
                                 + "in a whole window (\(account.limit)); such a call could never be sent")
            }
        }
    }
}
