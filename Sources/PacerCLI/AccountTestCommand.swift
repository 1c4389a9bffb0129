import ArgumentParser
import Foundation
import PacerCore
import PacerProviders
import PacerRunner
import PacerStorage
import Synchronization

/// `pacer account test NAME`: one cheap signed read (the provider file's `accountCheck`), sent on the runners'
/// path (it spends from the account's bucket), and what the answer says of the key, secret, passphrase, clock
/// and address. Exit 0 when the account was accepted; 1 when a part was refused or the answer proved nothing.
struct AccountTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Make one cheap signed read and say whether the account's credentials work.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "The account.") var name: String
    @Flag(help: "Print JSON.") var json = false

    /// What one test found.
    struct Report {
        var account: Account
        var request: String
        /// true: accepted; false: refused; nil: the answer proved nothing (rate-limited, a server error, no answer).
        var accepted: Bool?
        var httpStatus: Int?
        var code: String?
        var message: String?
        var classification: String
        /// Each part that applies to the account: accepted, refused or unknown.
        var parts: [(AccountPart, String)]
        /// The provider's clock minus ours, when it could be read.
        var clockOffsetMilliseconds: Int64?
    }

    func run() async throws {
        let opened = try store.open()
        guard let stored = try opened.account(named: name) else {
            throw CLIError("no account named '\(name)' (see `pacer account list`)")
        }
        let report = try await Self.test(stored, store: opened)
        print(json ? Self.json(report).compactText : Self.text(report))
        if report.accepted != true { throw ExitCode(1) }
    }

    static func test(_ account: Account, store: any PacerStore) async throws -> Report {
        let api = account.provider.api
        let check = api.accountCheck
        let label = "\(check.method.rawValue) \(check.path)"
        let credentials: Credentials
        do {
            credentials = try CredentialResolver.resolve(account)
        } catch {
            return Report(account: account, request: label, accepted: false, message: "\(error)",
                          classification: "not sent", parts: parts(of: account, refused: nil, accepted: nil))
        }
        let transport = HTTPTransport()
        let report = await send(check, label: label, on: account, credentials: credentials, store: store,
                                transport: transport)
        try await transport.shutdown()
        return report
    }

    private static func send(_ check: APIRequest, label: String, on account: Account, credentials: Credentials,
                             store: any PacerStore, transport: HTTPTransport) async -> Report {
        let api = account.provider.api
        let runner = Runner(store: store, transport: transport, options: RunnerOptions())
        // The provider's time first, where it publishes an endpoint for it (a request like any other: metered).
        var offset: Int64?
        if let endpoint = api.serverTimeEndpoint {
            // From when the request leaves (after any wait for a token) to its answer.
            let sent = Mutex<Int64>(0)
            let cost = api.endpoints.cost(method: .get, path: endpoint, baseURL: account.baseURL)
            if let reply = try? await runner.sendOne(on: account, cost: cost, sign: {
                sent.withLock { $0 = WallClock.nowMilliseconds() }
                return SignedRequest(method: .get, url: account.baseURL + endpoint, headers: [], body: nil)
            }), let time = api.serverTime(in: reply) {
                offset = time - (sent.withLock { $0 } + WallClock.nowMilliseconds()) / 2
            }
        }
        let reply: HTTPReply
        do {
            let cost = api.endpoints.cost(method: check.method, path: check.path, baseURL: account.baseURL)
            reply = try await runner.sendOne(on: account, cost: cost) {
                api.sign(check, baseURL: account.baseURL, credentials: credentials,
                         inputs: SigningInputs(nowMilliseconds: WallClock.nowMilliseconds(),
                                               nonce: Nonce.random(length: api.nonceLength ?? 0)))
            }
        } catch {
            return Report(account: account, request: label, accepted: nil, message: "no answer: \(error)",
                          classification: "no answer", parts: parts(of: account, refused: nil, accepted: nil),
                          clockOffsetMilliseconds: offset)
        }
        let outcome = api.interpret(reply, overrides: [:])
        if offset == nil, let time = outcome.serverTimeMilliseconds { offset = time - WallClock.nowMilliseconds() }
        let accepted: Bool?
        switch outcome.classification {
        case .ok, .duplicate: accepted = true
        case .auth, .clock: accepted = false
        // A refusal the tables do not know is `permanent` too (a wrong base URL's 404, an unpublished code):
        // it proves nothing about the credentials.
        case .permanent, .rateLimited, .transient: accepted = nil
        }
        let refused = accepted == false ? outcome.code.flatMap(api.refusedPart(code:)) : nil
        return Report(account: account, request: label, accepted: accepted, httpStatus: reply.status,
                      code: outcome.code, message: outcome.message, classification: outcome.classification.name,
                      parts: parts(of: account, refused: refused, accepted: accepted), clockOffsetMilliseconds: offset)
    }

    /// The parts that apply to the account, each accepted, refused or unknown: a provider stops at the first part
    /// it refuses, so the others are unknown then.
    static func parts(of account: Account, refused: AccountPart?, accepted: Bool?) -> [(AccountPart, String)] {
        let api = account.provider.api
        var applicable: [AccountPart] = [.key, .secret]
        if api.needsPassphrase { applicable.append(.passphrase) }
        applicable += [.clock, .address]
        if account.credentials.partner != nil { applicable.append(.broker) }
        if refused == .account { applicable.append(.account) }
        return applicable.map { part in
            (part, accepted == true ? "accepted" : part == refused ? "refused" : "unknown")
        }
    }

    static func text(_ r: Report) -> String {
        let verdict = r.accepted == true ? "accepted" : r.accepted == false ? "REFUSED" : "inconclusive"
        var lines = ["\(r.account.name) (\(r.account.provider.rawValue) at \(r.account.baseURL)): \(r.request): \(verdict)"
                     + (r.code.map { ", code \($0)" } ?? "") + (r.message.map { " (\($0))" } ?? "")]
        for (part, state) in r.parts {
            var line = "  " + part.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + state
            if state == "refused" { line += ": " + part.advice }
            if part == .clock, let offset = r.clockOffsetMilliseconds {
                line += String(format: "; this host is %.1f s %@ the provider", Double(abs(offset)) / 1000,
                               offset >= 0 ? "behind" : "ahead of")
            }
            lines.append(line)
        }
        if r.accepted == nil { lines.append("  the answer proved nothing (\(r.classification)); try again later") }
        return lines.joined(separator: "\n")
    }

    static func json(_ r: Report) -> JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        return .object([
            .init("account", .string(r.account.name)), .init("provider", .string(r.account.provider.rawValue)),
            .init("request", .string(r.request)),
            .init("accepted", r.accepted.map(JSONValue.bool) ?? .null),
            .init("http_status", r.httpStatus.map { .number(String($0)) } ?? .null),
            .init("code", opt(r.code)), .init("message", opt(r.message)),
            .init("classification", .string(r.classification)),
            .init("parts", .object(r.parts.map { .init($0.0.rawValue, .string($0.1)) })),
            .init("clock_offset_ms", r.clockOffsetMilliseconds.map { .number(String($0)) } ?? .null),
        ])
    }
}
