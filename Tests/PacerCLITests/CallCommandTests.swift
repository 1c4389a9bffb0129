import Foundation
import PacerCore
import PacerTestSupport
import Testing

/// `pacer call --dry-run --json --at ... --nonce ...` reproduces every verified provider vector byte for byte,
/// run as a user runs it: the built binary, secrets in environment variables and files.
@Suite(.serialized) struct CallCommandTests {
    let dir = TempDir()
    var db: String { dir.url.appendingPathComponent("pacer.sqlite").path }

    func pacer(_ args: [String], env: [String: String] = [:]) throws -> PacerProcess.Result {
        try PacerProcess.run(args + ["--db", db], environment: env)
    }

    func dryRun(_ args: [String], env: [String: String]) throws -> JSONValue {
        let result = try pacer(["call"] + args + ["--dry-run", "--json"], env: env)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        return try JSONValue(parsing: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func header(_ request: JSONValue, _ name: String) -> String? {
        if case .string(let v)? = request["headers"]?[name] { return v }
        return nil
    }

    @Test func kucoinVectors() throws {
        let add = try pacer(["account", "add", "kc", "--provider", "kucoin", "--base-url", "https://api.kucoin.com",
                             "--limit", "4000/30s", "--key", "6422da9c97b45100018c6e62", "--secret-env", "T_KS",
                             "--passphrase-env", "T_KP", "--partner", "goodbroker", "--broker-name", "GB",
                             "--broker-key-env", "T_BK"])
        #expect(add.status == 0, "\(add.stderr)")
        let env = ["T_KS": "cde06451-dbed", "T_KP": "1111111", "T_BK": "e8512b82-a4aa"]
        let body = #"{"symbol":"BTC-USDT","side":"buy","size":"0.0001","price":"30000","type":"limit","clientOid":"2b802154-8d31-42e6-88ea-c8c18d3e4822","tradeType":"TRADE"}"#
        let request = try dryRun(["kc", "POST", "/api/v1/orders", "--body", body, "--at", "1680885532722"], env: env)
        #expect(request["method"] == .string("POST"))
        #expect(request["url"] == .string("https://api.kucoin.com/api/v1/orders"))
        #expect(request["body"] == .string(body))
        #expect(header(request, "KC-API-SIGN") == "ncPuAcZW8WYUZyvblRVVgMfYoVH+FlCTO6K45/FMLFQ=")
        #expect(header(request, "KC-API-PASSPHRASE") == "rl1Ki0WuwidRT48JnoGQo+AJ4UtZ6mQEKt6F5XYVnT4=")
        #expect(header(request, "KC-API-PARTNER-SIGN") == "CN1imIGUz/USkPuhOtGWi5DlZ08VeuVfknJNOPqUEac=")
        #expect(header(request, "KC-API-TIMESTAMP") == "1680885532722")

        _ = try pacer(["account", "add", "kc-old", "--provider", "kucoin", "--base-url", "https://api.kucoin.com",
                       "--limit", "4000/30s", "--key", "k", "--secret-env", "T_OLD", "--passphrase-env", "T_KP"])
        let old = try dryRun(["kc-old", "POST", "/api/v1/deposit-addresses", "currency=BTC", "--at", "1547015186532"],
                             env: ["T_OLD": "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3", "T_KP": "x"])
        #expect(old["body"] == .string(#"{"currency":"BTC"}"#))
        #expect(header(old, "KC-API-SIGN") == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4=")
    }

    @Test func kookeeyVectors() throws {
        let token = dir.write("kookeey.token", "1234567ABCDEFG\n")
        chmod(token, 0o600) // a secret file others can read is refused
        _ = try pacer(["account", "add", "kk", "--provider", "kookeey", "--base-url", "https://kookeey.com",
                       "--limit", "10/1s", "--key", "1", "--secret-file", token])
        for (g, signature) in [("433", "ZDQyNmExY2FiOWZhNDdiMjAzNTYyYmFhZDZmMWIyNzM4N2FjM2JmMA%3D%3D"),
                               ("1", "YzVkMjQxYjVmNjA2MWExMjAwYWYxMzUxM2I1YTY4YWYyOWIxMzA5NA%3D%3D")] {
            let request = try dryRun(["kk", "GET", "/stock", "g=\(g)", "--at", "1609430400000"], env: [:])
            #expect(request["url"] == .string("https://kookeey.com/stock?accessid=1&g=\(g)&ts=1609430400&signature=\(signature)"))
        }
    }

    @Test func bitunixVector() throws {
        _ = try pacer(["account", "add", "bu", "--provider", "bitunix", "--base-url", "https://openapi.bitunix.com",
                       "--limit", "10/1s", "--key", "11111111111111111", "--secret-env", "T_BU"])
        let request = try dryRun(["bu", "GET", "/api/v1/futures/account", "marginCoin=USDT", "--at", "1747104711262",
                                  "--nonce", "33333333333333333"], env: ["T_BU": "22222222222222222"])
        #expect(header(request, "sign") == "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922")
        #expect(header(request, "nonce") == "33333333333333333")
        #expect(request["url"] == .string("https://openapi.bitunix.com/api/v1/futures/account?marginCoin=USDT"))
    }

    @Test func bitzVector() throws {
        _ = try pacer(["account", "add", "bz", "--provider", "bitz", "--base-url", "https://apiv2.bitz.com",
                       "--limit", "30/1s", "--key", "demo-bitz-key", "--secret-env", "T_BZ"])
        let request = try dryRun(["bz", "POST", "/Trade/cancelAllEntrustSheet", "ids=1,2,3", "--at", "1700000000000",
                                  "--nonce", "ab12cd"], env: ["T_BZ": "s3cret"])
        #expect(request["body"] == .string("ids=1%2C2%2C3&apiKey=demo-bitz-key&timeStamp=1700000000&nonce=ab12cd"
                                           + "&sign=531f3e5249833e98b7ff3128ad41e128"))
    }

    @Test func aMissingSecretVariableIsNamedNotGuessed() throws {
        _ = try pacer(["account", "add", "bz", "--provider", "bitz", "--base-url", "https://apiv2.bitz.com",
                       "--limit", "30/1s", "--key", "k", "--secret-env", "T_UNSET_SECRET"])
        let result = try pacer(["call", "bz", "POST", "/Trade/x", "--dry-run"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("$T_UNSET_SECRET is not set"))
    }
}

/// `pacer sandbox` as a process: it prints where each provider is and the demo credentials' variable names, a
/// `pacer call` against it is accepted, and SIGTERM stops it cleanly.
@Suite(.serialized) struct SandboxProcessTests {
    let dir = TempDir()

    @Test func startsServesAndStopsOnSIGTERM() throws {
        let sandbox = try PacerProcess.start(["sandbox", "--port", "0"])
        defer { if sandbox.process.isRunning { sandbox.process.terminate() } }
        let banner = sandbox.readStdout(until: "stop with", timeoutSeconds: 10)
        #expect(banner.contains("PACER_DEMO_KUCOIN_SECRET="))
        #expect(banner.contains("PACER_DEMO_KUCOIN_PASSPHRASE="))
        let match = try #require(banner.firstMatch(of: #/kookeey: http://127\.0\.0\.1:(\d+)/kookeey/#))
        let port = String(match.1)

        let db = dir.url.appendingPathComponent("pacer.sqlite").path
        let add = try PacerProcess.run(["account", "add", "kk", "--provider", "kookeey", "--base-url",
                                        "http://127.0.0.1:\(port)/kookeey", "--limit", "10/1s", "--key",
                                        "demo-kookeey-key", "--secret-env", "PACER_DEMO_KOOKEEY_SECRET", "--db", db])
        #expect(add.status == 0)
        let call = try PacerProcess.run(["call", "kk", "GET", "/stock", "g=433", "--json", "--db", db],
                                        environment: ["PACER_DEMO_KOOKEEY_SECRET": "demo-kookeey-token"], timeoutSeconds: 30)
        #expect(call.status == 0, "\(call.stderr)")
        let answer = try JSONValue(parsing: call.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(answer["classification"] == .string("ok"))
        #expect(answer["code"] == .string("0"))

        sandbox.process.terminate() // SIGTERM
        let stopBy = Date().addingTimeInterval(10)
        while sandbox.process.isRunning && Date() < stopBy { usleep(10_000) }
        #expect(!sandbox.process.isRunning)
        #expect(sandbox.process.terminationReason == .exit)
        #expect(sandbox.process.terminationStatus == 0)
    }
}

/// README's first command. The built-in demo, run away from the repository (as from an installed binary): under a
/// minute, every limit held by the emulator's count, at least one cool-down and one order looked up by its key.
/// And `--jobs` runs every shipped example against the demo accounts.
@Suite struct DemoProcessTests {
    @Test func theBuiltInDemoShowsTheLimitsAtWork() async throws {
        let dir = TempDir()
        let started = Date()
        let result = try await PacerProcess.finish(["demo", "--db", dir.url.appendingPathComponent("d.sqlite").path],
                                          environment: ["PACER_LOG_LEVEL": "warning"], timeoutSeconds: 60, in: dir.url)
        let took = Date().timeIntervalSince(started)
        #expect(result.status == 0, "stderr: \(result.stderr)\nstdout: \(result.stdout)")
        #expect(took < 60)
        #expect(result.stdout.contains("every limit held: no account sent more than its limit in any window"),
                "\(result.stdout)")
        #expect(result.stdout.contains("refusal(s) cooled their account down"), "\(result.stdout)")
        #expect(result.stdout.contains("were looked up by their key instead of being placed again"), "\(result.stdout)")
        #expect(result.stdout.contains("0 key(s) the provider saw twice"), "\(result.stdout)")
        #expect(!result.stdout.contains("queued="), "something was left queued:\n\(result.stdout)")
    }

    @Test func theDemoFinishesEveryExampleOffline() throws {
        let dir = TempDir()
        let db = dir.url.appendingPathComponent("demo.sqlite").path
        let result = try PacerProcess.run(["demo", "--db", db, "--jobs", repositoryRoot.appendingPathComponent("jobs").path],
                                          environment: ["PACER_LOG_LEVEL": "warning"], timeoutSeconds: 60)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for job in ["kookeey-inventory", "kookeey-renew-lines", "kucoin-cancel-stale", "bitunix-batch-cancel",
                    "bitz-bulk-cancel"] {
            let line = result.stdout.split(separator: "\n").first { $0.contains(job) && $0.contains("succeeded=") }
            #expect(line != nil, "\(job) not finished:\n\(result.stdout)")
        }
        #expect(!result.stdout.contains("queued="), "something was left queued:\n\(result.stdout)")
        #expect(result.stdout.contains("next: pacer results --db \(db)"))
    }
}
