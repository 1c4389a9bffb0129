import ArgumentParser
import CSV
import Foundation
import PacerCore
import PacerOperations
import PacerStorage

struct ResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "One record per call: state, attempts, the provider's code and data.")

    enum Format: String, ExpressibleByArgument { case jsonl, csv }

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("run"), help: "Only this run.") var runID: Int64?
    @Option(help: "jsonl (default) or csv.") var format: Format = .jsonl
    @Flag(help: "For people: calls by state and provider code, the slowest tries, and what did not succeed.")
    var summary = false

    static let columns = ["run", "call", "job", "account", "method", "path", "params", "state", "attempts",
                          "http_status", "code", "data", "error", "finished_at", "key"]

    func run() throws {
        let opened = try store.open()
        if summary {
            print(Self.summaryText(try opened.resultSummary(run: runID, slowest: 5, failures: 10)), terminator: "")
            return
        }
        let out = FileHandle.standardOutput
        switch format {
        case .jsonl:
            var buffer = ""
            try opened.results(run: runID) { record in
                buffer += Self.jsonLine(record) + "\n"
                if buffer.utf8.count > 64 * 1024 { out.write(Data(buffer.utf8)); buffer = "" }
            }
            out.write(Data(buffer.utf8))
        case .csv:
            let stream = OutputStream(toMemory: ())
            let writer = try CSVWriter(stream: stream)
            try writer.write(row: Self.columns)
            try opened.results(run: runID) { record in try writer.write(row: Self.csvRow(record)) }
            writer.stream.close()
            if let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data {
                out.write(data + Data("\n".utf8)) // CSVWriter separates rows but does not end the last one
            }
        }
    }

    /// One JSONL record. `params` and `data` are stored as JSON text and are embedded as JSON, not as strings.
    static func jsonLine(_ r: ResultRecord) -> String {
        var s = "{"
        func key(_ k: String) { if s.count > 1 { s += "," }; JSONValue.writeString(k, to: &s); s += ":" }
        func string(_ k: String, _ v: String?) { key(k); if let v { JSONValue.writeString(v, to: &s) } else { s += "null" } }
        func raw(_ k: String, _ v: String?) { key(k); s += v ?? "null" }
        raw("run", String(r.run)); raw("call", String(r.call)); string("job", r.job); string("account", r.account)
        string("method", r.method); string("path", r.path); raw("params", r.params); string("state", r.state.rawValue)
        raw("attempts", String(r.attempts)); raw("http_status", r.httpStatus.map(String.init)); string("code", r.code)
        raw("data", r.data); string("error", r.error)
        string("finished_at", r.finishedAtMilliseconds.map(Timestamps.iso8601))
        if let k = r.key { string("key", k) }
        return s + "}"
    }

    static func summaryText(_ s: ResultSummary) -> String {
        var codes = TextTable(["STATE", "CODE", "CALLS"])
        for c in s.byCode { codes.add([c.state.rawValue, c.code ?? "-", "\(c.calls)"]) }
        var out = s.byCode.isEmpty ? "no calls\n" : codes.render()
        if !s.slowest.isEmpty {
            out += "\nslowest tries:\n"
            for t in s.slowest { out += "  call \(t.call)  \(t.method) \(t.path)  \(t.latencyMilliseconds) ms  \(t.classification)\n" }
        }
        out += s.failureCount == 0 ? "\nnothing failed\n" : "\nnot succeeded (\(s.failureCount)):\n"
        for f in s.failures {
            out += "  call \(f.call)  \(f.method) \(f.path)  \(f.state.rawValue)  code \(f.code ?? "-")  \(f.error ?? "")\n"
        }
        if s.failureCount > s.failures.count { out += "  ... and \(s.failureCount - s.failures.count) more (pacer results)\n" }
        return out
    }

    static func csvRow(_ r: ResultRecord) -> [String] {
        [String(r.run), String(r.call), r.job, r.account, r.method, r.path, r.params, r.state.rawValue,
         String(r.attempts), r.httpStatus.map(String.init) ?? "", r.code ?? "", r.data ?? "", r.error ?? "",
         r.finishedAtMilliseconds.map(Timestamps.iso8601) ?? "", r.key ?? ""]
    }
}
