import Foundation
import PacerCore
import Yams

/// Reads a job file (docs/jobs.md) into a validated `JobSpec`.
///
/// Every error names the file, the line and column, the field and what was expected. Items files are opened here
/// (and CSV headers read) so that an unreadable file or an unknown column is reported before anything is queued.
public enum JobFileParser {
    static let topLevelKeys = ["name", "account", "accounts", "request", "items", "batch", "weight", "pool", "priority",
                               "idempotent", "retry", "schedule", "timezone", "on"]

    public static func parse(file path: String) throws(JobFileError) -> JobSpec {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw JobFileError(file: path, line: 1, column: 1, field: "(file)",
                               message: "cannot read the job file as UTF-8 text")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(JobFileError) -> JobSpec {
        let y = YAMLFields(file: file)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw JobFileError(file: file, line: 1, column: 1, field: "(file)", message: "the job file is empty")
            }
            root = node
        } catch let error as JobFileError {
            throw error
        } catch {
            throw yamlSyntaxError(error, file: file)
        }

        var fields: [String: (keyNode: Node, value: Node)] = [:]
        for m in try y.members(root, "", allowed: topLevelKeys) { fields[m.key] = (m.keyNode, m.value) }
        func required(_ key: String) throws(JobFileError) -> Node {
            guard let f = fields[key] else { throw y.fail(root, key, "missing; every job file needs '\(key)'") }
            return f.value
        }

        let name = try y.string(try required("name"), "name")
        guard Account.isValidName(name) else {
            throw y.fail(fields["name"]?.value, "name", "expected letters, digits, '-', '_' or '.', at most 64")
        }
        var templates: [(Template, Node, String)] = []
        let (account, target) = try parseTarget(fields, root: root, y, &templates)
        let request = try parseRequest(try required("request"), y, &templates)
        let items = try fields["items"].map { f throws(JobFileError) in try parseItems(f.value, y) }
        let batch = try fields["batch"].map { f throws(JobFileError) in try parseBatch(f.value, y) }
        if batch != nil && items == nil {
            throw y.fail(fields["batch"]?.keyNode, "batch", "a batch needs 'items' to group")
        }
        try checkPlaceholders(templates, items: items, batch: batch, y: y, itemsNode: fields["items"]?.keyNode)
        if case .perItem = target, batch != nil {
            throw y.fail(fields["account"]?.value, "account",
                         "a batched job cannot route each item to its own account; use 'accounts:' or no batch")
        }

        let weight = try fields["weight"].map { f throws(JobFileError) in try y.int(f.value, "weight", atLeast: 1) } ?? 1
        // Without `idempotent`, HTTP semantics decide: GET, PUT and DELETE may be repeated; POST may not (and at
        // enqueue, an endpoint its provider says places orders may not either: `Enqueuer.idempotent`).
        let idempotent = try fields["idempotent"].map { f throws(JobFileError) in try y.bool(f.value, "idempotent") }
            ?? (request.method != .post)
        let retry = try fields["retry"].map { f throws(JobFileError) in try parseRetry(f.value, y) } ?? .default
        let schedule = try fields["schedule"].map { f throws(JobFileError) -> CronSchedule in
            let text = try y.string(f.value, "schedule")
            do { return try CronSchedule(parsing: text) } catch {
                throw y.fail(f.value, "schedule", "\(error) (five-field cron, UTC, like \"*/5 * * * *\")")
            }
        }

        let timezone = try fields["timezone"].map { f throws(JobFileError) -> String in
            let name = try y.string(f.value, "timezone")
            guard TimeZone(identifier: name) != nil else {
                throw y.fail(f.value, "timezone", "expected an IANA time zone like Europe/Berlin or UTC, found '\(name)'")
            }
            return name
        }
        if timezone != nil && schedule == nil {
            throw y.fail(fields["timezone"]?.keyNode, "timezone", "'timezone' applies to a 'schedule'")
        }
        let overrides = try fields["on"].map { f throws(JobFileError) in try parseOverrides(f.value, y) } ?? [:]

        var spec = JobSpec(file: file, name: name, account: account, target: target, request: request, items: items, batch: batch,
                           weight: weight, idempotent: idempotent, retry: retry, schedule: schedule,
                           timezone: timezone, overrides: overrides)
        spec.idempotentIsExplicit = fields["idempotent"] != nil
        spec.weightIsExplicit = fields["weight"] != nil
        spec.pool = try fields["pool"].map { f throws(JobFileError) -> String in
            let pool = try y.string(f.value, "pool")
            guard AccountLimits.isValidPoolName(pool) else {
                throw y.fail(f.value, "pool", "expected the name of one of the account's pools (letters, digits, '-', "
                             + "'_' or '.'), found '\(pool)'")
            }
            return pool
        }
        spec.priority = try fields["priority"].map { f throws(JobFileError) -> Int in
            let priority = try y.int(f.value, "priority", atLeast: 0)
            guard priority <= JobSpec.maximumPriority else {
                throw y.fail(f.value, "priority", "expected a whole number from 0 to \(JobSpec.maximumPriority), found \(priority)")
            }
            return priority
        } ?? 0
        if let items {
            // Open the source once now: unreadable files and unknown CSV columns are errors of the job file.
            _ = try ItemReader(items, jobFile: file, columnsUsed: spec.columnsUsed)
        }
        for (key, f) in fields {
            spec.positions[key] = SourcePosition(line: f.value.mark?.line ?? 1, column: f.value.mark?.column ?? 1)
        }
        return spec
    }

    /// `account: NAME`, `account: "{{item.COLUMN}}"` or `accounts: [NAME or GLOB, ...]` — exactly one of them.
    private static func parseTarget(_ fields: [String: (keyNode: Node, value: Node)], root: Node, _ y: YAMLFields,
                                    _ templates: inout [(Template, Node, String)]) throws(JobFileError)
        -> (String, AccountTarget) {
        switch (fields["account"], fields["accounts"]) {
        case (nil, nil):
            throw y.fail(root, "account", "missing; every job file needs 'account' (or 'accounts')")
        case (.some, .some(let both)):
            throw y.fail(both.keyNode, "accounts", "give either 'account' or 'accounts', not both")
        case (.some(let one), nil):
            let text = try y.string(one.value, "account")
            guard text.contains("{{") else { return (text, .one(text)) }
            let template = try y.template(one.value, "account")
            let routes: Bool = {
                guard template.parts.count == 1, let only = template.parts.first else { return false }
                switch only {
                case .item, .itemColumn: return true
                default: return false
                }
            }()
            guard routes else {
                throw y.fail(one.value, "account",
                             "expected an account name, or exactly \"{{item}}\" or \"{{item.COLUMN}}\" to route each item")
            }
            templates.append((template, one.value, "account"))
            return (text, .perItem(template))
        case (nil, .some(let many)):
            guard case .sequence(let seq) = many.value, !seq.isEmpty else {
                throw y.fail(many.value, "accounts", "expected a list of account names or globs, like [broker-*]")
            }
            var patterns: [String] = []
            for (i, child) in seq.enumerated() {
                let pattern = try y.string(child, "accounts[\(i)]")
                guard !pattern.isEmpty, !pattern.contains("{{") else {
                    throw y.fail(child, "accounts[\(i)]", "expected an account name or a glob like broker-*")
                }
                patterns.append(pattern)
            }
            return (patterns.joined(separator: ", "), .matching(patterns))
        }
    }

    private static func parseRequest(_ node: Node, _ y: YAMLFields,
                                     _ templates: inout [(Template, Node, String)]) throws(JobFileError) -> RequestSpec {
        var method: HTTPMethod?
        var path: Template?
        var params: [(key: String, value: TemplateValue)] = []
        var body: TemplateValue?
        for m in try y.members(node, "request", allowed: ["method", "path", "params", "body"]) {
            switch m.key {
            case "method":
                let text = try y.string(m.value, "request.method")
                guard let parsed = HTTPMethod(rawValue: text.uppercased()) else {
                    throw y.fail(m.value, "request.method", "expected GET, POST, DELETE or PUT, found '\(text)'")
                }
                method = parsed
            case "path":
                let text = try y.string(m.value, "request.path")
                guard text.hasPrefix("/"), !text.contains("?"), !text.contains("#") else {
                    throw y.fail(m.value, "request.path",
                                 "expected a path starting with '/' and no query (put query values in params)")
                }
                let t = try y.template(m.value, "request.path")
                templates.append((t, m.value, "request.path"))
                path = t
            case "params":
                guard case .object(let members) = try y.templateValue(m.value, "request.params", found: &templates) else {
                    throw y.fail(m.value, "request.params", "expected a mapping of names to values")
                }
                params = members
            default: // body
                body = try y.templateValue(m.value, "request.body", found: &templates)
            }
        }
        guard let method else { throw y.fail(node, "request.method", "missing; expected GET, POST, DELETE or PUT") }
        guard let path else { throw y.fail(node, "request.path", "missing; expected a path like /api/v1/orders") }
        return RequestSpec(method: method, path: path, params: params, body: body)
    }

    private static func parseItems(_ node: Node, _ y: YAMLFields) throws(JobFileError) -> ItemsSpec {
        let members = try y.members(node, "items", allowed: ["file", "column", "list", "range"])
        let sources = members.filter { ["file", "list", "range"].contains($0.key) }
        guard sources.count == 1, let source = sources.first else {
            throw y.fail(node, "items", "expected exactly one of file, list or range")
        }
        let columnNode = members.first { $0.key == "column" }
        let column = try columnNode.map { m throws(JobFileError) in try y.string(m.value, "items.column") }
        if columnNode != nil && source.key != "file" {
            throw y.fail(columnNode?.keyNode, "items.column", "'column' applies only to a CSV items file")
        }
        let line = source.value.mark?.line ?? 1, col = source.value.mark?.column ?? 1
        switch source.key {
        case "list":
            guard case .sequence(let seq) = source.value else {
                throw y.fail(source.value, "items.list", "expected a list of values")
            }
            var values: [String] = []
            for (i, child) in seq.enumerated() {
                guard child.scalar != nil else {
                    throw y.fail(child, "items.list[\(i)]", "expected a plain value, found \(y.describe(child))")
                }
                values.append(try y.string(child, "items.list[\(i)]"))
            }
            return ItemsSpec(source: .list(values), line: line, column: col)
        case "range":
            let text = try y.string(source.value, "items.range")
            let bounds = text.components(separatedBy: "..")
            guard bounds.count == 2, let lo = Int(bounds[0].trimmingCharacters(in: .whitespaces)),
                  let hi = Int(bounds[1].trimmingCharacters(in: .whitespaces)), lo <= hi
            else {
                throw y.fail(source.value, "items.range", "expected FIRST..LAST whole numbers with FIRST <= LAST, like 1..500")
            }
            return ItemsSpec(source: .range(lo...hi), line: line, column: col)
        default:
            let relative = try y.string(source.value, "items.file")
            let base = URL(fileURLWithPath: y.file).deletingLastPathComponent()
            let path = relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path
            let isCSV = column != nil || relative.lowercased().hasSuffix(".csv")
            return ItemsSpec(source: .file(path: path, format: isCSV ? .csv(column: column) : .lines),
                             line: line, column: col)
        }
    }

    /// `on:` maps a provider's code (`80003`, `-110`, `"400100"`) to a classification name.
    private static func parseOverrides(_ node: Node, _ y: YAMLFields) throws(JobFileError) -> [String: String] {
        var overrides: [String: String] = [:]
        for m in try y.members(node, "on", allowed: nil) {
            guard !m.key.isEmpty, m.key.allSatisfy({ $0.isNumber || $0 == "-" }) else {
                throw y.fail(m.keyNode, "on.\(m.key)", "expected a provider code such as 60001 or -110")
            }
            let name = try y.string(m.value, "on.\(m.key)")
            guard ClassificationName(rawValue: name) != nil else {
                throw y.fail(m.value, "on.\(m.key)", "expected one of \(ClassificationName.expected), found '\(name)'")
            }
            overrides[m.key] = name
        }
        return overrides
    }

    private static func parseBatch(_ node: Node, _ y: YAMLFields) throws(JobFileError) -> BatchSpec {
        var size: Int?
        var join: String?
        for m in try y.members(node, "batch", allowed: ["size", "join"]) {
            if m.key == "size" { size = try y.int(m.value, "batch.size", atLeast: 1) }
            else { join = try y.string(m.value, "batch.join") }
        }
        guard let size else { throw y.fail(node, "batch.size", "missing; expected the number of items per call") }
        return BatchSpec(size: size, join: join)
    }

    private static func parseRetry(_ node: Node, _ y: YAMLFields) throws(JobFileError) -> RetryPolicy {
        var policy = RetryPolicy.default
        for m in try y.members(node, "retry", allowed: ["attempts", "backoff"]) {
            if m.key == "attempts" {
                policy.attempts = try y.int(m.value, "retry.attempts", atLeast: 1)
            } else {
                let text = try y.string(m.value, "retry.backoff")
                guard let range = RetryPolicy.parseBackoff(text) else {
                    throw y.fail(m.value, "retry.backoff", "expected \(RetryPolicy.expectedBackoff), found '\(text)'")
                }
                policy.minimumBackoffMilliseconds = range.min
                policy.maximumBackoffMilliseconds = range.max
            }
        }
        return policy
    }

    /// Placeholders must have something to stand for: `{{item}}` needs items (and no batch), `{{batch}}` a batch,
    /// `{{item.COLUMN}}` a CSV items file; items that no placeholder uses are almost certainly a mistake.
    private static func checkPlaceholders(_ templates: [(Template, Node, String)], items: ItemsSpec?,
                                          batch: BatchSpec?, y: YAMLFields, itemsNode: Node?) throws(JobFileError) {
        var csvColumn: String??
        if case .file(_, .csv(let column))? = items?.source { csvColumn = .some(column) }
        var usesItems = false
        for (t, node, field) in templates {
            for part in t.parts {
                switch part {
                case .item, .itemColumn:
                    guard items != nil else { throw y.fail(node, field, "uses {{item}} but the job has no 'items'") }
                    guard batch == nil else {
                        throw y.fail(node, field, "a batched job sends groups of items: use {{batch}}, not {{item}}")
                    }
                    if case .itemColumn(let c) = part, csvColumn == nil {
                        throw y.fail(node, field, "{{item.\(c)}} needs a CSV items file with a header row")
                    }
                    if part == .item, case .some(.none) = csvColumn {
                        throw y.fail(node, field, "{{item}} with a CSV file needs 'items.column' (or use {{item.COLUMN}})")
                    }
                    usesItems = true
                case .batch:
                    guard batch != nil else { throw y.fail(node, field, "uses {{batch}} but the job has no 'batch'") }
                    usesItems = true
                case .literal, .index, .account, .key: break
                }
            }
        }
        if items != nil && !usesItems {
            throw y.fail(itemsNode, "items", "no template uses {{item}}, {{item.COLUMN}} or {{batch}}")
        }
    }

    private static func yamlSyntaxError(_ error: Error, file: String) -> JobFileError {
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                return JobFileError(file: file, line: mark.line, column: mark.column, field: "(yaml)",
                                    message: "not valid YAML: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                return JobFileError(file: file, line: context.mark.line, column: context.mark.column,
                                    field: duplicates.joined(separator: ", "),
                                    message: "key appears twice in the mapping")
            default: break
            }
        }
        return JobFileError(file: file, line: 1, column: 1, field: "(yaml)", message: "not valid YAML: \(error)")
    }
}

extension JobSpec {
    /// Whether any part of the request uses `{{key}}`: each call then gets a key at enqueue.
    public var usesKey: Bool {
        request.path.usesKey || request.params.contains { $0.value.templates.contains(where: \.usesKey) }
            || (request.body?.templates.contains(where: \.usesKey) ?? false)
    }

    /// Whether the request's top-level field `name` is exactly `{{key}}`: the test for a call being keyed when
    /// `name` is its provider's dedupe field. Exactly, because the order is looked up by the bare key (a value like
    /// `ord-{{key}}` would never be found). Only where the request really carries it: a job with `body:` sends that
    /// body instead of `params`, so there it is the body's top-level members that count.
    public func putsKey(inField name: String) -> Bool {
        let members: [(key: String, value: TemplateValue)]
        switch request.body {
        case nil: members = request.params
        case .object(let bodyMembers)?: members = bodyMembers
        default: members = []
        }
        return members.contains { $0.key == name && $0.value == .text(Template.key) }
    }

    /// CSV columns named by `{{item.COLUMN}}` anywhere in the request.
    var columnsUsed: [String] {
        var all = request.path.columns
        if case .perItem(let route) = target { all += route.columns }
        for p in request.params { all += p.value.templates.flatMap(\.columns) }
        all += request.body?.templates.flatMap(\.columns) ?? []
        return all
    }
}
