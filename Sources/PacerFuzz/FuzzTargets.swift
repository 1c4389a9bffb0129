import Foundation
import PacerCore
import PacerJobs
import PacerProviders

/// The parsers that read what others wrote: job files (users), JSON (providers and the store), and every provider's
/// answers (the network). Each takes arbitrary bytes and must never crash, hang or leak; errors are fine.
enum FuzzTarget: String, CaseIterable {
    case jobfile, json, answers

    func run(_ bytes: [UInt8]) {
        switch self {
        case .jobfile:
            // A path under a folder that does not exist: items files named relative to it cannot be opened.
            _ = try? JobFileParser.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "/nonexistent/fuzz/job.yaml")
        case .json:
            if let value = try? JSONValue(parsing: bytes) {
                // What parses must print and parse back to the same value.
                let again = try? JSONValue(parsing: value.compactText)
                precondition(again == value, "JSON round trip changed the value")
            }
        case .answers:
            // The first byte picks the status; the rest is the body, answered by every provider.
            let statuses = [200, 400, 401, 403, 404, 408, 429, 500, 502, 503, 504]
            let status = statuses[Int(bytes.first ?? 0) % statuses.count]
            let reply = HTTPReply(status: status, headers: [("Retry-After", "7"), ("gw-ratelimit-reset", "99999999999999999999")],
                                  body: Array(bytes.dropFirst()))
            for provider in Provider.allCases {
                let api = provider.api
                let outcome = api.interpret(reply, overrides: [:])
                _ = api.lookupResult(outcome, key: "k")
                _ = api.isDuplicateKey(outcome)
            }
        }
    }

    /// `PACER_FUZZ_TARGET`, read once.
    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["PACER_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set PACER_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()
}

#if FUZZING
/// libFuzzer's entry point (built with `--sanitize=fuzzer -Xswiftc -DFUZZING`, by scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
/// Without libFuzzer: replays files (a corpus, or crashes found earlier) through a target, so every regression
/// input keeps being checked by an ordinary build: `pacer-fuzz TARGET FILE...`.
@main
enum Replay {
    static func main() throws {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: pacer-fuzz jobfile|json|answers FILE...\n".utf8))
            exit(2)
        }
        let inputs = try args.dropFirst().map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        for input in inputs { target.run(input) }
        print("replayed \(inputs.count) input\(inputs.count == 1 ? "" : "s") through \(name)")
        // PACER_FUZZ_REPEAT=N: a leak check without a sanitizer. After one round has filled every cache, N more
        // rounds must not grow the resident set: memory kept per input would show as growth.
        if let rounds = ProcessInfo.processInfo.environment["PACER_FUZZ_REPEAT"].flatMap(Int.init), rounds > 0 {
            let before = residentKilobytes()
            for _ in 0..<rounds { for input in inputs { target.run(input) } }
            let after = residentKilobytes()
            print("\(rounds) more rounds (\(rounds * inputs.count) runs): resident \(before) KB -> \(after) KB")
        }
    }

    /// The resident set from /proc/self/statm, in kilobytes.
    static func residentKilobytes() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024 : 0
    }
}
#endif
