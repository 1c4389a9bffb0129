import PacerCore
import Yams

/// Reading helpers over a Yams node tree that turn every problem into a `JobFileError` at the node's position.
///
/// Scalars follow YAML 1.2's core schema, not YAML 1.1's: only `true`/`false` are booleans and only JSON-shaped
/// numbers are numbers, so `side: no` stays the string "no" and `id: 0x1F` stays "0x1F". Quoted scalars are
/// always strings.
struct YAMLFields {
    let file: String

    func fail(_ node: Node?, _ field: String, _ message: String) -> JobFileError {
        let mark = node?.mark
        return JobFileError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, field: field,
                            message: message)
    }

    /// A mapping's members in order, refusing keys outside `allowed`, duplicate keys and non-string keys.
    func members(_ node: Node, _ field: String, allowed: [String]?) throws(JobFileError) -> [(key: String, keyNode: Node, value: Node)] {
        guard let mapping = node.mapping else {
            throw fail(node, field, "expected a mapping, found \(describe(node))")
        }
        var seen = Set<String>()
        var out: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                throw fail(keyNode, field, "expected a plain key, found \(describe(keyNode))")
            }
            let path = field.isEmpty ? key : "\(field).\(key)"
            if let allowed, !allowed.contains(key) {
                throw fail(keyNode, path, "unknown key; expected one of \(allowed.joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw fail(keyNode, path, "key appears twice") }
            out.append((key, keyNode, value))
        }
        return out
    }

    func string(_ node: Node, _ field: String) throws(JobFileError) -> String {
        guard let scalar = node.scalar, kind(of: scalar) != .null else {
            throw fail(node, field, "expected a string, found \(describe(node))")
        }
        return scalar.string
    }

    func int(_ node: Node, _ field: String, atLeast minimum: Int) throws(JobFileError) -> Int {
        guard let scalar = node.scalar, kind(of: scalar) == .number, let value = Int(scalar.string) else {
            throw fail(node, field, "expected a whole number >= \(minimum), found \(describe(node))")
        }
        guard value >= minimum else { throw fail(node, field, "expected a whole number >= \(minimum), found \(value)") }
        return value
    }

    func bool(_ node: Node, _ field: String) throws(JobFileError) -> Bool {
        guard let scalar = node.scalar, kind(of: scalar) == .bool else {
            throw fail(node, field, "expected true or false, found \(describe(node))")
        }
        return scalar.string.lowercased() == "true"
    }

    func template(_ node: Node, _ field: String) throws(JobFileError) -> Template {
        let text = try string(node, field)
        do { return try Template(parsing: text) } catch { throw fail(node, field, error.message) }
    }

    /// A params or body value: strings become templates, other scalars pass through as JSON.
    func templateValue(_ node: Node, _ field: String, found: inout [(Template, Node, String)]) throws(JobFileError) -> TemplateValue {
        switch node {
        case .scalar(let scalar):
            switch kind(of: scalar) {
            case .null: return .scalar(.null)
            case .bool: return .scalar(.bool(scalar.string.lowercased() == "true"))
            case .number: return .scalar(.number(scalar.string))
            case .string:
                let t = try template(node, field)
                found.append((t, node, field))
                return .text(t)
            }
        case .sequence(let seq):
            var items: [TemplateValue] = []
            for (i, child) in seq.enumerated() {
                items.append(try templateValue(child, "\(field)[\(i)]", found: &found))
            }
            return .array(items)
        case .mapping:
            var members: [(key: String, value: TemplateValue)] = []
            for m in try self.members(node, field, allowed: nil) {
                members.append((m.key, try templateValue(m.value, "\(field).\(m.key)", found: &found)))
            }
            return .object(members)
        case .alias:
            throw fail(node, field, "aliases are not supported in job files")
        }
    }

    enum ScalarKind { case string, number, bool, null }

    func kind(of scalar: Node.Scalar) -> ScalarKind {
        guard scalar.style == .plain, scalar.tag.description != Tag.Name.str.rawValue else { return .string }
        let s = scalar.string
        switch s {
        case "true", "True", "TRUE", "false", "False", "FALSE": return .bool
        case "", "~", "null", "Null", "NULL": return .null
        default: return s.wholeMatch(of: #/-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/#) != nil ? .number : .string
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            switch kind(of: s) {
            case .null: return "nothing"
            case .string: return "'\(s.string)'"
            default: return s.string
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
