import ArgumentParser
import Foundation
import PacerCore
import PacerStorage

struct AccountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Register, list and remove provider accounts.",
        subcommands: [Add.self, Import.self, List.self, Remove.self, Resume.self, AccountTestCommand.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an account. Secrets are given by environment variable or file, never by value.")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The account's name, used by job files.") var name: String
        @Option(help: "kookeey, kucoin, bitunix or bitz.") var provider: Provider
        @Option(name: .customLong("base-url"), help: "https://..., or http:// for a loopback host only.")
        var baseURL: String
        @Option(help: ArgumentHelp(
            "COUNT/WINDOW (the default pool), or POOL=COUNT/WINDOW (a named pool); repeat for several windows or pools.",
            discussion: "Without --limit the account gets its provider's documented pools."))
        var limit: [String] = []
        @Option(help: "A shared pool (pacer pool add) the account also draws from; repeat for several.")
        var shared: [String] = []
        @Option(help: "The API key (an identifier, stored as given).") var key: String?
        @Option(name: .customLong("key-env"), help: "Environment variable holding the API key.") var keyEnv: String?
        @Option(name: .customLong("secret-env"), help: "Environment variable holding the secret.")
        var secretEnv: String?
        @Option(name: .customLong("secret-file"), help: "File holding the secret.") var secretFile: String?
        @Option(name: .customLong("passphrase-env"), help: "Environment variable holding the KuCoin passphrase.")
        var passphraseEnv: String?
        @Option(help: "KuCoin broker partner id.") var partner: String?
        @Option(name: .customLong("broker-name"), help: "KuCoin broker name.") var brokerName: String?
        @Option(name: .customLong("broker-key-env"), help: "Environment variable holding the KuCoin broker key.")
        var brokerKeyEnv: String?
        @Flag(help: "Replace an existing account of the same name.") var replace = false

        func run() throws {
            let account = try AccountInput(
                name: name, provider: provider, baseURL: baseURL, limits: limit, shared: shared,
                credentials: CredentialReferences(key: key, keyEnv: keyEnv, secretEnv: secretEnv,
                                                  secretFile: secretFile, passphraseEnv: passphraseEnv,
                                                  partner: partner, brokerName: brokerName,
                                                  brokerKeyEnv: brokerKeyEnv)).validated()
            try store.open().addAccount(account, replace: replace, nowMilliseconds: WallClock.nowMilliseconds())
            print("account \(account.name): \(account.provider.rawValue) at \(account.baseURL), limits "
                  + Self.describe(account.limits))
        }

        /// `10/1s, 100/20s; spot 40/3s; shared office-ip`.
        static func describe(_ limits: AccountLimits) -> String {
            (limits.pools.map { pool in
                (pool.name.isEmpty ? "" : pool.name + " ") + pool.windows.map(\.description).joined(separator: ", ")
            } + limits.shared.map { "shared \($0)" }).joined(separator: "; ")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the accounts of a CSV or JSON Lines file: every line checked first, then all or none.",
            discussion: "Columns (CSV header, or JSON keys): \(AccountFile.columns.joined(separator: ", ")).")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The file (CSV with a header, or one JSON object per line).") var file: String
        @Flag(help: "Update accounts that exist already (running runners pick the change up).") var replace = false

        func run() throws {
            let file = try AccountFile(path: file)
            let opened = try store.open()
            if !replace {
                let existing = Set(try opened.accounts().map(\.name))
                if let taken = file.accounts.first(where: { existing.contains($0.account.name) }) {
                    throw CLIError("\(file.path):\(taken.line): name '\(taken.account.name)': exists already; "
                                   + "use --replace to update it (nothing was added)")
                }
            }
            do {
                try opened.addAccounts(file.accounts.map(\.account), replace: replace,
                                       nowMilliseconds: WallClock.nowMilliseconds())
            } catch {
                throw CLIError("\(file.path): nothing was added: \(error)")
            }
            print("\(replace ? "added or updated" : "added") \(file.accounts.count) account(s) from \(file.path)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Only accounts whose name matches this glob, like 'sub-*'.") var pattern: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let accounts = try store.open().accounts().filter { a in pattern.map { fnmatch($0, a.name, 0) == 0 } ?? true }
            if json {
                print(JSONValue.object([.init("accounts", .array(accounts.map(Self.json)))]).compactText)
                return
            }
            var table = TextTable(["ACCOUNT", "PROVIDER", "BASE URL", "LIMIT", "KEY", "SECRET", "STATE"])
            for a in accounts {
                let c = a.credentials
                table.add([a.name, a.provider.rawValue, a.baseURL, Add.describe(a.limits),
                           c.key.map { _ in "(given)" } ?? c.keyEnv.map { "$\($0)" } ?? "-",
                           c.secretEnv.map { "$\($0)" } ?? c.secretFile ?? "-",
                           a.pausedReason.map { "paused: \($0)" } ?? "active"])
            }
            print(table.render(), terminator: "")
        }

        static func json(_ a: Account) -> JSONValue {
            let c = a.credentials
            func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
            return .object([
                .init("account", .string(a.name)), .init("provider", .string(a.provider.rawValue)),
                .init("base_url", .string(a.baseURL)), .init("limit", .string(a.limit.description)),
                .init("pools", .array(a.limits.pools.map { pool in
                    .object([.init("pool", .string(PoolKey.display(pool.name))),
                             .init("limits", .array(pool.windows.map { .string($0.description) }))])
                })),
                .init("shared", .array(a.limits.shared.map(JSONValue.string))),
                .init("key", opt(c.key)), .init("key_env", opt(c.keyEnv)), .init("secret_env", opt(c.secretEnv)),
                .init("secret_file", opt(c.secretFile)), .init("passphrase_env", opt(c.passphraseEnv)),
                .init("partner", opt(c.partner)), .init("broker_name", opt(c.brokerName)),
                .init("broker_key_env", opt(c.brokerKeyEnv)),
                .init("paused", .bool(a.pausedReason != nil)), .init("reason", opt(a.pausedReason)),
            ])
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume an account paused after an auth error.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() throws {
            try store.open().resumeAccount(name)
            print("account \(name) resumed")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an account.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String
        @Flag(help: "Also delete the account's runs, calls and results.") var purge = false

        func run() throws {
            try store.open().removeAccount(named: name, purgeRuns: purge)
            print("account \(name) removed")
        }
    }
}

extension Provider: ExpressibleByArgument {}
