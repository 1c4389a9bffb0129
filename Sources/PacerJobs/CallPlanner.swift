import Foundation
import PacerCore

/// Expands a validated job into its calls, one at a time: items are read as they are needed, so a job over a
/// million-line file never holds more than one batch of items in memory.
public struct CallPlanner {
    private let spec: JobSpec
    private var reader: ItemReader?
    private var index = 0
    private var finished = false
    private let params: TemplateValue

    public init(_ spec: JobSpec) throws(JobFileError) {
        self.spec = spec
        self.params = .object(spec.request.params)
        reader = try spec.items.map { items throws(JobFileError) in
            try ItemReader(items, jobFile: spec.file, columnsUsed: spec.columnsUsed)
        }
    }

    /// The next call, or `nil` when the job is exhausted. Errors name the items file and line.
    public mutating func next() throws(JobFileError) -> NewCall? {
        guard !finished else { return nil }
        var context = RenderContext(index: index, item: nil, batch: nil, join: spec.batch?.join,
                                    columns: reader?.columns ?? [:])
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
        }
        defer { index += 1 }
        return render(context)
    }

    private func render(_ context: RenderContext) -> NewCall {
        var pathContext = context
        pathContext.encode = { $0.addingPercentEncoding(withAllowedCharacters: Self.pathSegmentAllowed) ?? $0 }
        return NewCall(
            index: context.index,
            method: spec.request.method,
            path: pathContext.render(spec.request.path),
            params: params.render(context).compactText,
            body: spec.request.body?.render(context).compactText,
            weight: spec.weight,
            idempotent: spec.idempotent)
    }

    /// RFC 3986 `pchar` without `/`: a substituted value stays inside its path segment.
    static let pathSegmentAllowed: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@")
        return set
    }()
}
