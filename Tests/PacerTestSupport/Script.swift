import Foundation

/// Runs one of the repository's scripts (`scripts/NAME`) with `system(3)`, what it prints going to a file in
/// `dir`: a daemon it leaves behind (a server, a pooler) inherits the script's descriptors, so a pipe held open by
/// it would never reach its end, and Foundation's `Process` did not see such a script end. Returns what it
/// printed; throws it when the script fails.
enum Script {
    static func run(_ name: String, _ arguments: String, in dir: TempDir) throws -> String {
        let output = dir.url.appendingPathComponent("\(name).out").path
        let script = repositoryRoot.appendingPathComponent("scripts/\(name)").path
        let status = system("bash '\(script)' \(arguments) >'\(output)' 2>&1 </dev/null")
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else {
            struct Failed: Error, CustomStringConvertible { let description: String }
            throw Failed(description: "\(name) \(arguments): \(printed)")
        }
        return printed
    }
}
