/// A JSON value whose objects keep their members in the order they were written.
///
/// Order matters to Pacer: job files are read top to bottom, Kookeey signs parameters in URL order, and a JSON body
/// is signed byte for byte as it is sent. Foundation's JSON types do not promise any member order, so params and
/// bodies are carried as this type and written out by `compactText`, which is deterministic.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text (`0.0001`, `42`), so nothing is lost to floating point.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// Compact JSON (no spaces), members in their stored order: the exact bytes Pacer sends and signs.
    public var compactText: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// The text a scalar takes in a query string or a form body (`true`, `42`, `abc`); arrays are comma-joined.
    public var plainText: String {
        switch self {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return s
        case .array(let items): return items.map(\.plainText).joined(separator: ",")
        case .object: return compactText
        }
    }

    /// Member lookup for objects; `nil` for any other value or a missing key.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// Element lookup for arrays; `nil` for any other value or an index out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// RFC 8259 string escaping; `/` is left alone (as JavaScript's JSON.stringify does) so bodies match the
    /// providers' own SDKs byte for byte.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
