import PacerCore

/// `pacer results --summary`.
public struct ResultSummary: Sendable, Equatable {
    public struct CodeCount: Sendable, Equatable {
        public var state: CallState
        public var code: String?
        public var calls: Int

        public init(state: CallState, code: String?, calls: Int) {
            self.state = state
            self.code = code
            self.calls = calls
        }
    }

    public struct SlowTry: Sendable, Equatable {
        public var call: Int64
        public var method: String
        public var path: String
        public var latencyMilliseconds: Int64
        public var classification: String
    }

    public struct Failure: Sendable, Equatable {
        public var call: Int64
        public var method: String
        public var path: String
        public var state: CallState
        public var code: String?
        public var error: String?
    }

    public var byCode: [CodeCount]
    public var slowest: [SlowTry]
    public var failures: [Failure]
    /// All calls that ended failed, dead or uncertain (`failures` lists the first few).
    public var failureCount: Int
}
