import Foundation
import PacerTestSupport
import Testing

/// Every fuzzing seed and every input a fuzzing run ever crashed on (fuzz/regressions/TARGET-*) goes through its
/// parser again on each `swift test`, through the ordinary build of `pacer-fuzz`.
@Suite struct FuzzRegressionTests {
    static var fuzzer: URL { PacerProcess.binary.deletingLastPathComponent().appendingPathComponent("pacer-fuzz") }

    @Test(arguments: ["jobfile", "json", "answers"])
    func seedsAndRegressionsParseWithoutCrashing(target: String) throws {
        let fuzz = repositoryRoot.appendingPathComponent("fuzz")
        let fm = FileManager.default
        var inputs = try fm.contentsOfDirectory(atPath: fuzz.appendingPathComponent("corpus/\(target)").path)
            .map { fuzz.appendingPathComponent("corpus/\(target)/\($0)").path }
        inputs += ((try? fm.contentsOfDirectory(atPath: fuzz.appendingPathComponent("regressions").path)) ?? [])
            .filter { $0.hasPrefix("\(target)-") }.map { fuzz.appendingPathComponent("regressions/\($0)").path }
        #expect(!inputs.isEmpty)
        let process = Process()
        process.executableURL = Self.fuzzer
        process.arguments = [target] + inputs
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.contains("replayed \(inputs.count) input"))
    }
}
