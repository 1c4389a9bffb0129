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

        public init(call: Int64, method: String, path: String, latencyMilliseconds: Int64, classification: String) {
            self.call = call
            self.method = method
            self.path = path
            self.latencyMilliseconds = latencyMilliseconds
            self.classification = classification
        }
    }

    public struct Failure: Sendable, Equatable {
        public var call: Int64
        public var method: String
        public var path: String
        public var state: CallState
        public var code: String?
        public var error: String?

        public init(call: Int64, method: String, path: String, state: CallState, code: String?, error: String?) {
            self.call = call
            self.method = method
            self.path = path
            self.state = state
            self.code = code
            self.error = error
        }
    }

    public var byCode: [CodeCount]
    public var slowest: [SlowTry]
    public var failures: [Failure]
    /// All calls that ended failed, dead or uncertain (`failures` lists the first few).
    public var failureCount: Int

    public init(byCode: [CodeCount], slowest: [SlowTry], failures: [Failure], failureCount: Int) {
        self.byCode = byCode
        self.slowest = slowest
        self.failures = failures
        self.failureCount = failureCount
    }
}
