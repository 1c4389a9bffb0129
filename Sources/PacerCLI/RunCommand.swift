import ArgumentParser
import Foundation
import Logging
import PacerCore
import PacerQueue
import PacerStorage
import PacerRunner
import Prometheus
import UnixSignals

/// `pacer run`: send queued calls under every account's limit until stopped (or, with --drain, until nothing is
/// runnable). SIGINT/SIGTERM stop claiming, let calls in flight finish, give back the rest, and exit 0.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Send queued calls under each account's rate limit.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Exit 0 once no call is runnable any more (non-zero if paused accounts still hold calls).")
    var drain = false
    @Option(help: "Requests in flight at once, over all accounts.") var concurrency = 16
    @Option(name: .customLong("max-seconds"), help: "Stop gracefully after this many seconds.") var maxSeconds: Double?
    @Option(name: .customLong("account"), help: "Only this account (repeatable).") var accounts: [String] = []
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics at http://127.0.0.1:PORT/metrics.")
    var metricsPort: Int?
    @Option(help: "Safety margin added to each window, like 20ms (default: 0.5% of the window, 1 to 100ms).")
    var margin: String?
    @Option(name: .customLong("fail-on"), help: ArgumentHelp(
        "Exit 3 when a call this process finished ended in one of these states, like failed,dead,uncertain.",
        valueName: "states"))
    var failOn: String?

    func validate() throws {
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let maxSeconds, !(maxSeconds > 0 && maxSeconds <= Double(DurationText.maximumMilliseconds / 1_000)) {
            throw ValidationError("--max-seconds '\(maxSeconds)': expected a number of seconds above 0 and at most "
                                  + "\(DurationText.maximumMilliseconds / 1_000) (\(DurationText.maximumText))")
        }
        _ = try failingStates()
        if let margin, margin != "0ms", DurationText.milliseconds(margin) == nil {
            throw ValidationError("--margin '\(margin)': expected \(DurationText.expected)")
        }
    }

    static let log = Logger(label: "pacer.schedule")

    /// `--fail-on`'s states: final ones only (a call still queued or in flight has not ended).
    func failingStates() throws -> Set<CallState> {
        guard let failOn else { return [] }
        let finals = CallState.allCases.filter(\.isTerminal)
        var states: Set<CallState> = []
        for name in failOn.split(separator: ",", omittingEmptySubsequences: false) {
            let name = name.trimmingCharacters(in: .whitespaces)
            guard let state = CallState(rawValue: name), state.isTerminal else {
                throw ValidationError("--fail-on '\(name)': expected final states separated by commas, from "
                                      + finals.map(\.rawValue).joined(separator: ", "))
            }
            states.insert(state)
        }
        return states
    }

    /// The one line `--fail-on` prints, or nil when no call ended in a failing state.
    static func failureLine(ended: [CallState: Int], failing: Set<CallState>) -> String? {
        let hits = CallState.allCases.filter { failing.contains($0) && (ended[$0] ?? 0) > 0 }
        guard !hits.isEmpty else { return nil }
        let total = ended.values.reduce(0, +)
        let counts = hits.map { "\(ended[$0]!) \($0.rawValue)" }.joined(separator: ", ")
        return "pacer run: \(counts) of the \(total) call(s) this run ended (--fail-on); see `pacer status` and "
            + "`pacer results`"
    }

    func run() async throws {
        var options = RunnerOptions()
        options.drain = drain
        options.concurrency = concurrency
        options.maxSeconds = maxSeconds
        options.accounts = accounts.isEmpty ? nil : accounts
        options.marginMilliseconds = margin.map { $0 == "0ms" ? 0 : DurationText.milliseconds($0)! }
        let opened = try store.open()
        for name in accounts where try opened.account(named: name) == nil {
            throw CLIError("no account named '\(name)'")
        }
        let transport = HTTPTransport(connectionsPerHost: max(8, concurrency))
        var metrics = RunnerMetrics()
        var stopMetrics: (@Sendable () async -> Void)?
        if let metricsPort {
            let registry = PrometheusCollectorRegistry()
            metrics = RunnerMetrics(factory: PrometheusMetricsFactory(registry: registry))
            let server = try await MetricsServer(registry: registry).start(port: metricsPort)
            stopMetrics = server.stop
            Self.log.notice("metrics at http://127.0.0.1:\(server.port)/metrics")
        }
        let scheduler = Scheduler(store: opened)
        let runner = Runner(store: opened, transport: transport, options: options, metrics: metrics) { now in
            for run in try scheduler.tick(now: now) {
                Self.log.info("scheduled run enqueued", metadata: ["run": "\(run.run)", "job": "\(run.job)", "calls": "\(run.calls)"])
            }
        }
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                runner.requestStop()
            }
        }
        defer { signals.cancel() }
        let summary: Runner.Summary
        do { summary = try await runner.run() } catch {
            try? await transport.shutdown()
            await stopMetrics?()
            throw error
        }
        try await transport.shutdown()
        await stopMetrics?()
        var heldError: CLIError?
        if drain, !summary.held.isEmpty {
            let held = summary.held.sorted { $0.key < $1.key }
                .map { "\($0.key) holds \($0.value.calls) call(s): \($0.value.reason)" }.joined(separator: "; ")
            heldError = CLIError("paused accounts still hold calls: \(held) (fix, then `pacer account resume NAME`)")
        }
        // A failing state wins over held calls (exit 3 either way names both).
        if let line = Self.failureLine(ended: summary.ended, failing: try failingStates()) {
            if let heldError { FileHandle.standardError.write(Data("\(heldError)\n".utf8)) }
            FileHandle.standardError.write(Data((line + "\n").utf8))
            throw ExitCode(3)
        }
        if let heldError { throw heldError }
    }
}
