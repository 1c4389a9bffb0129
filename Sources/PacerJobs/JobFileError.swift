/// A problem in a job file (or in the items file it reads), pointing at the exact place: `file:line:column`,
/// the field's dotted path, and what was expected there.
public struct JobFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    /// Dotted path of the field, like `request.params.symbol` or `items.file`.
    public let field: String
    public let message: String

    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(field): \(message)" }
}
