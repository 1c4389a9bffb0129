import PacerCore

/// A validated job file (Contract 2). Everything in it has been checked: if you hold a `JobSpec`, its templates
/// parse, its items source is readable and every field has the right type and range.
public struct JobSpec: Sendable {
    /// The job file's path as the user gave it; items files are resolved relative to it.
    public var file: String
    public var name: String
    /// `account:` as written: the one account's name, or the per-item template's text; for `accounts:`, the
    /// patterns joined with ", " (for messages).
    public var account: String
    /// Where the calls go: one account, every account matching `accounts:`, or the account each item names.
    public var target: AccountTarget
    public var request: RequestSpec
    public var items: ItemsSpec?
    public var batch: BatchSpec?
    /// The cost of each call in each pool it draws from: the job's `weight:`, else (at enqueue) the provider's
    /// endpoint table (`weightIsExplicit` says which).
    public var weight: Int
    public var weightIsExplicit = false
    /// `pool:` (one of the account's pools), drawn from instead of the endpoint table's pool (docs/pools.md).
    public var pool: String?
    /// `priority:`: higher first among the runs that share a pool (0 by default, at most 1000).
    public var priority = 0
    /// Whether a call may be sent again after an answer that proves nothing: the job's `idempotent:`, or by default
    /// the HTTP method's meaning (GET, PUT, DELETE yes; POST no). At enqueue the provider's own account of the
    /// endpoint overrides that default (`Enqueuer.idempotent`).
    public var idempotent: Bool
    /// The job file says `idempotent:` itself.
    public var idempotentIsExplicit = false
    public var retry: RetryPolicy
    public var schedule: CronSchedule?
    /// The IANA time zone the schedule is read in; `nil` for UTC.
    public var timezone: String?
    /// The job's `on:` map: provider code -> classification name (`ClassificationName`).
    public var overrides: [String: String] = [:]
    /// Where each top-level field's value is written, so later checks (the account exists, the weight fits its
    /// limit) can point at the file, line and column like the parser does.
    public var positions: [String: SourcePosition] = [:]

    /// An error about a top-level field, at that field's position in the job file.
    public func error(_ field: String, _ message: String) -> JobFileError {
        let p = positions[field] ?? SourcePosition(line: 1, column: 1)
        return JobFileError(file: file, line: p.line, column: p.column, field: field, message: message)
    }

    public static let maximumPriority = 1_000

    /// The number of calls the job fans out to, when it can be known without reading an items file.
    public var knownCallCount: Int? {
        guard let items else { return 1 }
        let count: Int
        switch items.source {
        case .list(let values): count = values.count
        case .range(let r): count = r.count
        case .file: return nil
        }
        guard let batch else { return count }
        return (count + batch.size - 1) / batch.size
    }
}

/// Where a job's calls go (Contract 3).
public enum AccountTarget: Sendable, Equatable {
    /// `account: NAME`: one run on that account.
    case one(String)
    /// `accounts: [NAME or GLOB, ...]`: one run per matching account, in name order.
    case matching([String])
    /// `account: "{{item.COLUMN}}"` (or `"{{item}}"`): each call goes to the account its item names, one run per
    /// account named.
    case perItem(Template)
}

public struct RequestSpec: Sendable {
    public var method: HTTPMethod
    public var path: Template
    /// An ordered map; for JSON-body providers it is the body's top-level object.
    public var params: [(key: String, value: TemplateValue)]
    /// A nested body given with `body:`, sent instead of `params` as the JSON body.
    public var body: TemplateValue?
}

public struct ItemsSpec: Sendable {
    public enum Source: Sendable {
        case list([String])
        case range(ClosedRange<Int>)
        /// An items file: resolved path, and for CSV files the `column` chosen for `{{item}}`.
        case file(path: String, format: FileFormat)
    }

    public enum FileFormat: Sendable, Equatable {
        /// One item per line; blank lines and lines starting with `#` are skipped.
        case lines
        /// A header row, then one item per row.
        case csv(column: String?)
    }

    public var source: Source
    /// Where the items source is written in the job file, for errors found when it is opened.
    public var line: Int
    public var column: Int
}

public struct BatchSpec: Sendable {
    public var size: Int
    /// Separator for `{{batch}}`; without it a value that is exactly `{{batch}}` becomes a JSON array in a JSON
    /// body and is comma-joined elsewhere.
    public var join: String?
}

public struct SourcePosition: Sendable, Equatable {
    public var line: Int
    public var column: Int
}
