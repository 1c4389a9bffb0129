/// A recurring job as registered with `pacer schedule add`.
public struct ScheduleRecord: Sendable, Equatable {
    public var job: String
    public var file: String
    /// The job file's text as last parsed successfully.
    public var source: String
    public var registeredAt: Int64
    public var lastTick: Int64?
    public var missedTicks: Int
    public var lastError: String?

    public init(job: String, file: String, source: String, registeredAt: Int64, lastTick: Int64? = nil,
                missedTicks: Int = 0, lastError: String? = nil) {
        self.job = job
        self.file = file
        self.source = source
        self.registeredAt = registeredAt
        self.lastTick = lastTick
        self.missedTicks = missedTicks
        self.lastError = lastError
    }
}
