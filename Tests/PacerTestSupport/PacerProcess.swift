import Foundation
import Synchronization

/// Runs the built `pacer` binary as a user would, with a time limit, and collects what it printed.
public enum PacerProcess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// The `pacer` executable next to the test bundle (`swift test` builds it: the CLI tests depend on it).
    public static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("pacer")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return repositoryRoot.appendingPathComponent(".build/debug/pacer")
    }

    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           timeoutSeconds: Double = 60, in directory: URL? = nil) throws -> Result {
        let process = try start(arguments, environment: environment, in: directory)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.process.isRunning && Date() < deadline { usleep(10_000) }
        return process.result()
    }

    /// `run`, for async tests: waits with `Task.sleep`, so a long process (the demo) does not hold one of the
    /// few threads every other test's async work needs while it runs.
    public static func finish(_ arguments: [String], environment: [String: String] = [:],
                              timeoutSeconds: Double = 60, in directory: URL? = nil) async throws -> Result {
        let process = try start(arguments, environment: environment, in: directory)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return process.result()
    }

    public struct Running {
        public let process: Process
        public let stdout: Pipe
        public let stderr: Pipe

        /// Ends the process if it still runs, waits for it, and returns its status and what it printed.
        func result() -> Result {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return Result(status: process.terminationStatus,
                          stdout: String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                          stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }

        /// What the process printed on stdout until `marker` appeared, the process ended, or `timeoutSeconds`
        /// passed — whichever came first; never blocks past the deadline.
        public func readStdout(until marker: String, timeoutSeconds: Double = 10) -> String {
            let collected = Mutex("")
            stdout.fileHandleForReading.readabilityHandler = { handle in
                let chunk = handle.availableData
                collected.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
            defer { stdout.fileHandleForReading.readabilityHandler = nil }
            let deadline = Date().addingTimeInterval(timeoutSeconds)
            while Date() < deadline, process.isRunning, !collected.withLock({ $0.contains(marker) }) { usleep(10_000) }
            return collected.withLock { $0 }
        }
    }

    /// Starts `pacer` with `arguments`; `through` names a program that runs it (e.g. `faketime -f +2s`).
    public static func start(_ arguments: [String], environment: [String: String] = [:],
                             through wrapper: [String] = [], in directory: URL? = nil) throws -> Running {
        let process = Process()
        if let directory { process.currentDirectoryURL = directory }
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(wrapper.dropFirst()) + [binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return Running(process: process, stdout: out, stderr: err)
    }
}
