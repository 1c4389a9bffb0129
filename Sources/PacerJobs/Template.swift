/// A string with placeholders: `{{item}}`, `{{item.COLUMN}}`, `{{batch}}`, `{{index}}`, `{{account}}`, `{{key}}`.
///
/// Templates are parsed once, when the job file is read, so a typo such as `{{itme}}` is reported with its
/// position before anything is queued; rendering a million calls then only walks the parsed parts.
public struct Template: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case item
        case itemColumn(String)
        case batch
        case index
        /// The name of the account the call is sent with.
        case account
        /// The call's own key (see `CallKey`): unique, fixed at enqueue, the same on every try.
        case key
    }

    public let parts: [Part]

    public init(parsing text: String) throws(TemplateSyntaxError) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw TemplateSyntaxError(message: "'{{' is not closed by '}}'")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingSpaces()
            switch name {
            case "item": parts.append(.item)
            case "batch": parts.append(.batch)
            case "index": parts.append(.index)
            case "account": parts.append(.account)
            case "key": parts.append(.key)
            case let n where n.hasPrefix("item.") && n.count > 5: parts.append(.itemColumn(String(n.dropFirst(5))))
            default:
                throw TemplateSyntaxError(
                    message: "unknown placeholder '{{\(name)}}'; expected {{item}}, {{item.COLUMN}}, {{batch}}, {{index}}, {{account}} or {{key}}")
            }
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    /// The template as written (placeholders in their canonical spelling).
    public var text: String {
        parts.map { part in
            switch part {
            case .literal(let s): s
            case .item: "{{item}}"
            case .itemColumn(let c): "{{item.\(c)}}"
            case .batch: "{{batch}}"
            case .index: "{{index}}"
            case .account: "{{account}}"
            case .key: "{{key}}"
            }
        }.joined()
    }

    /// `{{key}}` alone.
    public static let key = Template(parts: [.key])

    init(parts: [Part]) { self.parts = parts }

    /// True when the whole template is `{{batch}}`: such a value becomes a JSON array in a JSON body.
    public var isExactlyBatch: Bool { parts == [.batch] }
    public var isLiteral: Bool { parts.allSatisfy { if case .literal = $0 { true } else { false } } }
    /// Only literals and `{{account}}`: the same for every call of a run on one account.
    public var isFixedPerAccount: Bool {
        parts.allSatisfy { switch $0 { case .literal, .account: true; default: false } }
    }

    public var usesItem: Bool { parts.contains(.item) }
    public var usesKey: Bool { parts.contains(.key) }
    public var usesBatch: Bool { parts.contains(.batch) }
    public var columns: [String] {
        parts.compactMap { if case .itemColumn(let c) = $0 { c } else { nil } }
    }
}

public struct TemplateSyntaxError: Error, Sendable, Equatable {
    public let message: String
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
