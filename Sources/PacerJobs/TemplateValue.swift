import PacerCore

/// A JSON-shaped value from a job file whose strings may hold templates: the `params` map and the `body` tree.
public indirect enum TemplateValue: Sendable, Equatable {
    /// A string, possibly with placeholders.
    case text(Template)
    /// A number, boolean or null, copied through unchanged.
    case scalar(JSONValue)
    case array([TemplateValue])
    case object([(key: String, value: TemplateValue)])

    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case let (.text(a), .text(b)): return a == b
        case let (.scalar(a), .scalar(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// Every template inside, depth first, for validation.
    var templates: [Template] {
        switch self {
        case .text(let t): return [t]
        case .scalar: return []
        case .array(let items): return items.flatMap(\.templates)
        case .object(let members): return members.flatMap(\.value.templates)
        }
    }

    func render(_ context: RenderContext) -> JSONValue {
        switch self {
        case .text(let t):
            // A value that is exactly {{batch}} with no `join` stays a list, so a JSON body gets an array
            // (Bitunix `orderIdList`); query strings and forms comma-join it when they are built.
            if t.isExactlyBatch, context.join == nil, let batch = context.batch {
                return .array(batch.map { .string(context.value(of: $0)) })
            }
            return .string(context.render(t))
        case .scalar(let v): return v
        case .array(let items): return .array(items.map { $0.render(context) })
        case .object(let members): return .object(members.map { .init($0.key, $0.value.render(context)) })
        }
    }
}
