/// One item of a job's fan-out: a list entry, a number of a range, a line of a text file or a row of a CSV file.
public struct Item: Sendable, Equatable {
    /// The value of `{{item}}`: the entry itself, or for CSV the value of the job's `column`.
    public var text: String
    /// For CSV rows, the row's fields in header order; empty otherwise.
    public var fields: [String]
    /// Where the item came from (1-based line of its file, or position in a list), for error messages.
    public var line: Int

    public init(text: String, fields: [String] = [], line: Int) {
        self.text = text
        self.fields = fields
        self.line = line
    }
}

/// What a template is rendered against: the call's index and either one item or a batch of them.
struct RenderContext {
    var index: Int
    var item: Item? = nil
    var batch: [Item]? = nil
    var join: String? = nil
    /// CSV header name -> field position; empty for other item sources.
    var columns: [String: Int]
    /// The account the call goes to (`{{account}}`).
    var account: String = ""
    /// The call's `{{key}}`; empty when the job uses none.
    var key: String = ""
    /// Path placeholders are percent-encoded so an item cannot add path segments or a query.
    var encode: (String) -> String = { $0 }

    func value(of item: Item) -> String { item.text }

    func render(_ template: Template) -> String {
        var out = ""
        for part in template.parts {
            switch part {
            case .literal(let s): out += s
            case .item: out += encode(item?.text ?? "")
            case .itemColumn(let name):
                if let item, let i = columns[name], i < item.fields.count { out += encode(item.fields[i]) }
            case .batch: out += encode((batch ?? []).map(\.text).joined(separator: join ?? ","))
            case .index: out += String(index)
            case .account: out += encode(account)
            case .key: out += key
            }
        }
        return out
    }
}
