import Foundation
import PacerCore

/// Expands a validated job into its calls, one at a time: items are read as they are needed, so a job over a
/// million-line file never holds more than one batch of items in memory.
public struct CallPlanner {
    private let spec: JobSpec
    /// `{{account}}` for a job on one account at a time; `nil` when each item names its account.
    private let account: String?
    private var reader: ItemReader?
    private var index = 0
    private var finished = false
    private let params: TemplateValue
    /// Params and body without placeholders are the same for every call: rendered once, not a million times.
    private let fixedParams: String?
    private let fixedBody: String??
    /// Makes each call's `{{key}}`, when the job uses one (random; tests pass a deterministic maker).
    private let makeKey: (() -> String)?

    /// - Parameters:
    ///   - account: the account the run goes to (`{{account}}`); ignored when the job routes each item to the
    ///     account it names.
    ///   - makeKey: the source of `{{key}}` values; random keys (`CallKey.random`) unless a test fixes them.
    public init(_ spec: JobSpec, account: String? = nil,
                makeKey: @escaping () -> String = CallKey.random) throws(JobFileError) {
        self.spec = spec
        self.makeKey = spec.usesKey ? makeKey : nil
        if case .perItem = spec.target { self.account = nil } else {
            self.account = account ?? { if case .one(let name) = spec.target { name } else { "" } }()
        }
        self.params = .object(spec.request.params)
        var empty = RenderContext(index: 0, columns: [:])
        empty.account = self.account ?? ""
        let perItem: Bool = { if case .perItem = spec.target { true } else { false } }()
        // Within a run on one account `{{account}}` is fixed too; with per-item accounts it differs between calls.
        func fixed(_ t: Template) -> Bool { perItem ? t.isLiteral : t.isFixedPerAccount }
        fixedParams = params.templates.allSatisfy(fixed) ? params.render(empty).compactText : nil
        if let body = spec.request.body {
            fixedBody = body.templates.allSatisfy(fixed) ? .some(body.render(empty).compactText) : nil
        } else {
            fixedBody = .some(nil)
        }
        reader = try spec.items.map { items throws(JobFileError) in
            try ItemReader(items, jobFile: spec.file, columnsUsed: spec.columnsUsed)
        }
    }

    /// The next call, or `nil` when the job is exhausted. Errors name the items file and line.
    public mutating func next() throws(JobFileError) -> NewCall? {
        guard !finished else { return nil }
        var context = RenderContext(index: index, item: nil, batch: nil, join: spec.batch?.join,
                                    columns: reader?.columns ?? [:], account: account ?? "")
        if reader == nil {
            finished = true // no items: exactly one call
        } else if let batch = spec.batch {
            var group: [Item] = []
            group.reserveCapacity(batch.size)
            while group.count < batch.size, let item = try reader!.next() { group.append(item) }
            guard !group.isEmpty else { finished = true; return nil }
            context.batch = group
        } else {
            guard let item = try reader!.next() else { finished = true; return nil }
            context.item = item
            if case .perItem(let route) = spec.target { context.account = context.render(route) }
        }
        defer { index += 1 }
        if let makeKey { context.key = makeKey() }
        return try render(context)
    }

    private func render(_ context: RenderContext) throws(JobFileError) -> NewCall {
        var pathContext = context
        pathContext.encode = Self.encodePathSegment
        let path = pathContext.render(spec.request.path)
        if let item = context.item ?? context.batch?.first,
           let dot = path.split(separator: "/", omittingEmptySubsequences: false).first(where: { $0 == "." || $0 == ".." }) {
            // Percent-encoding would not help: servers decode `%2E` before they resolve dot segments.
            throw JobFileError(file: itemsFile, line: item.line, column: 1, field: "request.path",
                               message: "the item makes the path '\(path)', whose segment '\(dot)' a server reads as "
                                   + "a folder, not an id: expected an item that is not '.' or '..'")
        }
        return NewCall(
            index: context.index,
            method: spec.request.method,
            path: path,
            params: fixedParams ?? params.render(context).compactText,
            body: fixedBody ?? spec.request.body?.render(context).compactText,
            weight: spec.weight,
            idempotent: spec.idempotent,
            account: account == nil ? context.account : nil,
            key: makeKey == nil ? nil : context.key)
    }

    /// Where the items are written: their file, or the job file for a list.
    private var itemsFile: String {
        if case .file(let path, _)? = spec.items?.source { return path }
        return spec.file
    }

    /// The account each item names, with where it is written (items file and line), for checking every name
    /// before anything is queued. Reads the items once, streaming.
    public static func routedAccounts(_ spec: JobSpec, _ visit: (_ account: String, _ file: String, _ line: Int) throws -> Void) throws {
        guard case .perItem(let route) = spec.target, let items = spec.items else { return }
        var reader = try ItemReader(items, jobFile: spec.file, columnsUsed: spec.columnsUsed)
        let file: String = { if case .file(let path, _) = items.source { path } else { spec.file } }()
        while let item = try reader.next() {
            let context = RenderContext(index: 0, item: item, columns: reader.columns)
            try visit(context.render(route), file, item.line)
        }
    }

    /// Percent-encodes a value for use inside one path segment. Most ids need no encoding, and checking that
    /// byte by byte is far cheaper than Foundation's encoder, so that is tried first.
    static func encodePathSegment(_ value: String) -> String {
        let plain = value.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
        }
        return plain ? value : value.addingPercentEncoding(withAllowedCharacters: pathSegmentAllowed) ?? value
    }

    /// RFC 3986 `pchar` without `/`: a substituted value stays inside its path segment.
    static let pathSegmentAllowed: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@")
        return set
    }()
}
