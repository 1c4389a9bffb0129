import ArgumentParser
import PacerCore
import PacerStorage

/// `pacer pool`: pools several accounts draw from (docs/pools.md), such as an egress IP's limit or a
/// provider-wide quota. Accounts name them with `account add --shared NAME`.
struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "Add, list and remove pools that several accounts share.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a shared pool (or change one with --replace).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The pool's name, which accounts give to --shared.") var name: String
        @Option(help: "COUNT/WINDOW; repeat for several windows that all hold.") var limit: [String] = []
        @Flag(help: "Change an existing pool (running runners pick the change up within about a second).")
        var replace = false

        func run() throws {
            guard AccountLimits.isValidPoolName(name) else {
                throw CLIError("pool name '\(name)': expected letters, digits, '-', '_' or '.', at most 64")
            }
            guard !limit.isEmpty else { throw CLIError("--limit: expected at least one COUNT/WINDOW, like 30/1s") }
            var windows: [RateLimit] = []
            for text in limit {
                guard let window = RateLimit(parsing: text) else {
                    throw CLIError("--limit '\(text)': expected \(RateLimit.expected)")
                }
                guard !windows.contains(where: { $0.windowMilliseconds == window.windowMilliseconds }) else {
                    throw CLIError("--limit '\(text)': expected one count per window")
                }
                windows.append(window)
            }
            let pool = SharedPool(name: name, windows: windows)
            try store.open().addSharedPool(pool, replace: replace, nowMilliseconds: WallClock.nowMilliseconds())
            print("pool \(name): \(pool.windows.map(\.description).joined(separator: ", "))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the shared pools and the accounts naming them.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let pools = try store.open().sharedPools()
            if json {
                print(JSONValue.object([.init("pools", .array(pools.map { pool in
                    .object([.init("pool", .string(pool.name)),
                             .init("limits", .array(pool.windows.map { .string($0.description) })),
                             .init("accounts", .array(pool.accounts.map(JSONValue.string)))])
                }))]).compactText)
                return
            }
            var table = TextTable(["POOL", "LIMITS", "ACCOUNTS"])
            for pool in pools {
                table.add([pool.name, pool.windows.map(\.description).joined(separator: ", "),
                           pool.accounts.isEmpty ? "-" : pool.accounts.joined(separator: ", ")])
            }
            print(table.render(), terminator: "")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a shared pool no account names.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() throws {
            try store.open().removeSharedPool(named: name)
            print("pool \(name) removed")
        }
    }
}
