import ArgumentParser
import Foundation
import PacerCore
import PacerProviders
import PacerRunner
import PacerStorage

/// `pacer call`: one signed call, printed as the provider answered it and classified; `--dry-run` prints the
/// exact request instead. The tool for "invalid signature": fix `--at` and `--nonce` and compare byte for byte.
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call", abstract: "Send one signed call, or print it with --dry-run.",
        discussion: """
            Params are KEY=VALUE pairs, kept in the order given. For providers that take a JSON body (KuCoin and \
            Bitunix POST) they form the body's top-level object; --body gives a JSON body instead.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "GET, POST, DELETE or PUT.") var method: String
    @Argument(help: "The provider's path, like /api/v1/orders.") var path: String
    @Argument(help: "Params as KEY=VALUE, in order.") var params: [String] = []
    @Option(help: "A JSON body to send instead of params.") var body: String?
    @Flag(name: .customLong("dry-run"), help: "Print the request instead of sending it.") var dryRun = false
    @Option(help: "Sign as of this time (epoch milliseconds).") var at: Int64?
    @Option(help: "Use this nonce (Bitunix, Bit-Z).") var nonce: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let opened = try store.open()
        guard let stored = try opened.account(named: account) else {
            throw CLIError("no account named '\(account)' (see `pacer account add`)")
        }
        guard let httpMethod = HTTPMethod(rawValue: method.uppercased()) else {
            throw CLIError("method '\(method)': expected GET, POST, DELETE or PUT")
        }
        guard path.hasPrefix("/") else { throw CLIError("path '\(path)': expected a path starting with '/'") }
        var pairs: [JSONValue.Member] = []
        for pair in params {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw CLIError("param '\(pair)': expected KEY=VALUE")
            }
            pairs.append(.init(String(pair[..<eq]), .string(String(pair[pair.index(after: eq)...]))))
        }
        let params = pairs
        if let body {
            do { _ = try JSONValue(parsing: body) } catch { throw CLIError("--body: \(error)") }
        }
        let api = stored.provider.api
        let credentials = try CredentialResolver.resolve(stored)
        // What it costs, and where from (docs/pools.md): the provider's endpoint table.
        let cost = api.endpoints.cost(method: httpMethod, path: path, baseURL: stored.baseURL)
        if dryRun {
            let request = sign(api: api, stored: stored, credentials: credentials, method: httpMethod, members: params)
            guard json else { print(Self.text(request)); return }
            let shared = Dictionary(uniqueKeysWithValues: try opened.sharedPools().map { ($0.name, $0.windows) })
            let drawn = stored.limits.draws(account: stored.name, demand: cost.demand, sharedPools: shared).draws
            var out = Self.json(request)
            if case .object(var members) = out {
                members.append(.init("pools", .array(drawn.map {
                    .object([.init("pool", .string(PoolKey.display($0.name))), .init("weight", .number(String(cost.weight)))])
                })))
                out = .object(members)
            }
            print(out.compactText)
            return
        }
        // A call by hand spends from the same bucket as the runners, on their path (`Runner.sendOne`).
        let transport = HTTPTransport()
        let runner = Runner(store: opened, transport: transport, options: RunnerOptions())
        let reply: HTTPReply
        do {
            reply = try await runner.sendOne(on: stored, cost: cost) {
                sign(api: api, stored: stored, credentials: credentials, method: httpMethod, members: params)
            }
        } catch is Runner.CoolingDown {
            try? await transport.shutdown()
            throw CLIError("account '\(account)' is cooling down; try again later")
        } catch let paused as Runner.PausedTooLong {
            try? await transport.shutdown()
            throw CLIError("\(paused.description); try again")
        } catch let error as StoreError {
            try? await transport.shutdown()
            throw error
        } catch {
            try? await transport.shutdown()
            throw CLIError("\(httpMethod.rawValue) \(path): no answer from \(stored.baseURL): \(error)")
        }
        try await transport.shutdown()
        let outcome = api.interpret(reply, overrides: [:])
        if json {
            print(JSONValue.object([
                .init("http_status", .number(String(reply.status))),
                .init("classification", .string(outcome.classification.name)),
                .init("code", outcome.code.map(JSONValue.string) ?? .null),
                .init("message", outcome.message.map(JSONValue.string) ?? .null),
                .init("data", (outcome.data.flatMap { try? JSONValue(parsing: $0) }) ?? .null),
            ]).compactText)
        } else {
            print("HTTP \(reply.status)  \(outcome.classification.name)  code \(outcome.code ?? "-")  \(outcome.message ?? "")")
            print(String(decoding: reply.body, as: UTF8.self))
        }
    }

    /// Signs at this moment (or at `--at`), with `--nonce` or a fresh nonce.
    func sign(api: any ProviderAPI, stored: Account, credentials: Credentials, method: HTTPMethod,
              members: [JSONValue.Member]) -> SignedRequest {
        let inputs = SigningInputs(nowMilliseconds: at ?? WallClock.nowMilliseconds(),
                                   nonce: nonce ?? Nonce.random(length: api.nonceLength ?? 0))
        return api.sign(APIRequest(method: method, path: path, params: members, body: body),
                        baseURL: stored.baseURL, credentials: credentials, inputs: inputs)
    }

    static func json(_ r: SignedRequest) -> JSONValue {
        .object([
            .init("method", .string(r.method.rawValue)), .init("url", .string(r.url)),
            .init("headers", .object(r.headers.map { .init($0.name, .string($0.value)) })),
            .init("body", r.body.map(JSONValue.string) ?? .null),
        ])
    }

    static func text(_ r: SignedRequest) -> String {
        ([("\(r.method.rawValue) \(r.url)")] + r.headers.map { "\($0.name): \($0.value)" }
            + (r.body.map { ["", $0] } ?? [])).joined(separator: "\n")
    }
}
