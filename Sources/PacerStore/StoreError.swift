/// Why the store refused or failed. Messages are one line and never contain secrets (the store holds none).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case newerSchema
        case accountExists
        case unknownAccount
        case accountInUse
        case database
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
