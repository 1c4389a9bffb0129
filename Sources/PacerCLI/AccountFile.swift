import Foundation
import PacerCore

/// The accounts of a `pacer account import` file (Contract 5): CSV whose header names `account add`'s options
/// without dashes, or JSON Lines with the same keys. Every line is checked as `account add` checks its flags, and
/// every problem is reported as `file:line: field ...`; nothing is returned unless every line is valid.
struct AccountFile {
    /// The columns a file may have; `name`, `provider` and `base-url` are required (no `limit`: the provider's
    /// documented pools).
    static let columns = ["name", "provider", "base-url", "limit", "key", "key-env", "secret-env", "secret-file",
                          "passphrase-env", "partner", "broker-name", "broker-key-env", "shared"]
    static let required = ["name", "provider", "base-url"]

    let path: String
    /// Each account with the line it came from.
    private(set) var accounts: [(line: Int, account: Account)] = []

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("\(path): cannot read the file")
        }
        guard var text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8 text") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() } // a spreadsheet's "CSV UTF-8" starts with a BOM
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        let firstLine = lines.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
        let rows = firstLine.hasPrefix("{") ? try jsonLines(lines) : try csv(lines)
        var seen: [String: Int] = [:]
        for (line, fields) in rows {
            let account = try Self.account(fields, at: "\(path):\(line)")
            if let first = seen[account.name] {
                throw CLIError("\(path):\(line): name '\(account.name)': already given on line \(first)")
            }
            seen[account.name] = line
            accounts.append((line, account))
        }
        if accounts.isEmpty { throw CLIError("\(path): no accounts in the file") }
    }

    /// The line an account came from.
    func line(of name: String) -> Int? { accounts.first { $0.account.name == name }?.line }

    // MARK: Reading

    private func csv(_ lines: [String]) throws -> [(Int, [String: String])] {
        guard let headerIndex = lines.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            return []
        }
        let header = try Self.csvFields(lines[headerIndex], at: "\(path):\(headerIndex + 1)")
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        try checkColumns(header, at: "\(path):\(headerIndex + 1)")
        var rows: [(Int, [String: String])] = []
        for index in lines.indices where index > headerIndex {
            let text = lines[index]
            if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let at = "\(path):\(index + 1)"
            let values = try Self.csvFields(text, at: at)
            guard values.count == header.count else {
                throw CLIError("\(at): expected \(header.count) comma-separated fields (the header's), found \(values.count)")
            }
            var fields: [String: String] = [:]
            for (column, value) in zip(header, values) where !value.isEmpty { fields[column] = value }
            rows.append((index + 1, fields))
        }
        return rows
    }

    private func jsonLines(_ lines: [String]) throws -> [(Int, [String: String])] {
        var rows: [(Int, [String: String])] = []
        for (index, text) in lines.enumerated() where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let at = "\(path):\(index + 1)"
            guard case .object(let members)? = try? JSONValue(parsing: text) else {
                throw CLIError("\(at): expected one JSON object per line")
            }
            var fields: [String: String] = [:]
            for member in members {
                switch member.value {
                case .string(let value): if !value.isEmpty { fields[member.key] = value }
                case .null: continue
                default: throw CLIError("\(at): \(member.key): expected a string")
                }
            }
            try checkColumns(members.map(\.key), at: at, requiredPresent: false)
            rows.append((index + 1, fields))
        }
        return rows
    }

    private func checkColumns(_ names: [String], at: String, requiredPresent: Bool = true) throws {
        if let unknown = names.first(where: { !Self.columns.contains($0) }) {
            throw CLIError("\(at): '\(unknown)': not a field; expected some of \(Self.columns.joined(separator: ", "))")
        }
        if let twice = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw CLIError("\(at): '\(twice)' is given twice")
        }
        if requiredPresent, let missing = Self.required.first(where: { !names.contains($0) }) {
            throw CLIError("\(at): the header has no '\(missing)' column (required: \(Self.required.joined(separator: ", ")))")
        }
    }

    /// One CSV line's fields (RFC 4180 quoting: `"a, b"`, `""` for a quote); a record spans one line.
    static func csvFields(_ line: String, at: String) throws -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    var lookahead = chars
                    if lookahead.next() == "\"" { field.append("\""); chars = lookahead } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty && !wasQuoted {
                quoted = true; wasQuoted = true; field = ""
            } else if wasQuoted && c.isWhitespace {
                continue // spaces between a closing quote and the comma
            } else if c == "," {
                fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
                field = ""; wasQuoted = false
            } else {
                field.append(c)
            }
        }
        if quoted { throw CLIError("\(at): a quoted field is not closed on its line") }
        fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
        return fields
    }

    // MARK: Checking

    /// One line's account, checked as `account add` checks its flags.
    static func account(_ fields: [String: String], at: String) throws -> Account {
        for name in required where fields[name] == nil {
            throw CLIError("\(at): \(name): required, and empty")
        }
        guard let provider = Provider(rawValue: fields["provider"]!.lowercased()) else {
            throw CLIError("\(at): provider '\(fields["provider"]!)': expected "
                           + Provider.allCases.map(\.rawValue).joined(separator: ", "))
        }
        // Several limits or shared pools are joined by `;`; no limit gives the provider's documented pools.
        func list(_ key: String) -> [String] {
            (fields[key] ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let input = AccountInput(
            name: fields["name"]!, provider: provider, baseURL: fields["base-url"]!, limits: list("limit"),
            shared: list("shared"),
            credentials: CredentialReferences(key: fields["key"], keyEnv: fields["key-env"],
                                              secretEnv: fields["secret-env"], secretFile: fields["secret-file"],
                                              passphraseEnv: fields["passphrase-env"], partner: fields["partner"],
                                              brokerName: fields["broker-name"], brokerKeyEnv: fields["broker-key-env"]))
        do {
            return try input.validated(naming: { $0 })
        } catch let error as CLIError {
            throw CLIError("\(at): \(error.description)")
        }
    }
}
