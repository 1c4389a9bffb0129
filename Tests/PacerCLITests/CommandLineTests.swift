import Foundation
import PacerCore
import PacerOperations
import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI
import PacerSQLite

@Suite(.serialized) struct CommandLineTests {
    let dir = TempDir()
    var db: String { dir.url.appendingPathComponent("pacer.sqlite").path }

    func pacer(_ args: [String]) throws {
        var command = try PacerCommand.parseAsRoot(args + ["--db", db])
        try command.run()
    }

    /// The secret is handed over only as an environment variable's name; after registering the account and
    /// queuing work, no byte of the database files holds the secret's value (the name is there, as a control
    /// that the search can find what is stored).
    @Test func secretsNeverReachTheDatabase() throws {
        let secret = "s3cr3t-\(UUID().uuidString)"
        let passphrase = "pp-\(UUID().uuidString)"
        setenv("PACER_TEST_SECRET", secret, 1)
        setenv("PACER_TEST_PASSPHRASE", passphrase, 1)
        let secretFile = dir.write("secret.txt", secret)
        try pacer(["account", "add", "kc", "--provider", "kucoin", "--base-url", "http://127.0.0.1:9/kucoin",
                   "--limit", "50/1s", "--key", "KEY123", "--secret-env", "PACER_TEST_SECRET",
                   "--passphrase-env", "PACER_TEST_PASSPHRASE"])
        try pacer(["account", "add", "kk", "--provider", "kookeey", "--base-url", "https://kookeey.example",
                   "--limit", "10/1s", "--key", "7", "--secret-file", secretFile])
        let job = dir.write("job.yaml", "name: j\naccount: kc\nrequest:\n  method: GET\n  path: /api/v1/orders\n")
        try pacer(["enqueue", job])

        var bytes = Data()
        for suffix in ["", "-wal", "-shm"] {
            bytes.append((try? Data(contentsOf: URL(fileURLWithPath: db + suffix))) ?? Data())
        }
        #expect(bytes.range(of: Data("PACER_TEST_SECRET".utf8)) != nil, "control: stored names are findable")
        #expect(bytes.range(of: Data(secret.utf8)) == nil)
        #expect(bytes.range(of: Data(passphrase.utf8)) == nil)
    }

    @Test func statusJSONFollowsTheContract() throws {
        try pacer(["account", "add", "a", "--provider", "bitz", "--base-url", "http://127.0.0.1:9", "--limit", "5/1s",
                   "--key", "k", "--secret-env", "S"])
        let job = dir.write("job.yaml", "name: j\naccount: a\nrequest:\n  method: POST\n  path: /Trade/x\n  params:\n    ids: \"{{batch}}\"\nitems:\n  range: 1..4\nbatch:\n  size: 3\n  join: \",\"\n")
        try pacer(["enqueue", job])
        let report = try SQLiteStore(path: db).status()
        let json = StatusView.json(report).compactText
        #expect(json == #"{"runs":[{"run":1,"job":"j","account":"a","counts":{"queued":2,"in_flight":0,"retrying":0,"#
                + #""succeeded":0,"failed":0,"dead":0,"uncertain":0,"duplicate":0,"cancelled":0}}],"accounts":[{"account":"a","#
                + #""paused":false,"reason":null,"counts":{"queued":2,"in_flight":0,"retrying":0,"succeeded":0,"failed":0,"#
                + #""dead":0,"uncertain":0,"duplicate":0,"cancelled":0}}]}"#)
        let table = StatusCommand.table(report)
        #expect(table.contains("0/2") && table.contains("queued=2") && table.contains("active"))
    }

    @Test func resultRecordsCarryTheContractFields() throws {
        let record = ResultRecord(run: 3, call: 7, job: "j", account: "a", method: "GET", path: "/stock",
                                  params: #"{"g":"433"}"#, state: .succeeded, attempts: 1, httpStatus: 200, code: "0",
                                  data: #"{"stock":5}"#, error: nil, finishedAtMilliseconds: 1_795_255_500_123)
        #expect(ResultsCommand.jsonLine(record) == #"{"run":3,"call":7,"job":"j","account":"a","method":"GET","#
                + #""path":"/stock","params":{"g":"433"},"state":"succeeded","attempts":1,"http_status":200,"#
                + #""code":"0","data":{"stock":5},"error":null,"finished_at":"2026-11-21T10:05:00.123Z"}"#)
        #expect(ResultsCommand.csvRow(record).count == ResultsCommand.columns.count)
    }

    static func input(baseURL: String = "http://127.0.0.1:8080/bitz", limit: String = "10/1s",
                      _ edit: (inout CredentialReferences) -> Void = { _ in }) -> AccountInput {
        var credentials = CredentialReferences(key: "k", secretEnv: "S")
        edit(&credentials)
        return AccountInput(name: "a", provider: .bitz, baseURL: baseURL, limits: [limit], credentials: credentials)
    }

    @Test(arguments: [
        (input(baseURL: "http://10.0.0.1"), "loopback"),
        (input(baseURL: "ftp://x"), "https"),
        (input(limit: "10"), "COUNT/WINDOW"),
        (input(limit: "1/40000000000d"), "at most 366d"),
        (input { $0.secretEnv = "not a name!" }, "NAME of an environment variable"),
        (input { $0.secretFile = "/tmp/s" }, "exactly one of --secret-env"),
        (input { $0.keyEnv = "K" }, "exactly one of --key"),
        (input { $0.passphraseEnv = "P" }, "kucoin accounts only"),
        (input { $0.partner = "p" }, "all of --partner"),
    ])
    func accountInputIsChecked(input: AccountInput, expected: String) throws {
        let error = try #require(throws: CLIError.self) { try input.validated() }
        #expect(error.description.contains(expected), "got: \(error)")
        #expect(!error.description.contains("not a name!"), "a value given as a variable name is never echoed")
    }

    /// Values that would overflow an instant are refused before anything runs: the run would otherwise trap, and
    /// trap again on every restart.
    @Test(arguments: ["nan", "inf", "-inf", "1e300", "0", "-5", "31622401"])
    func anImpossibleMaxSecondsIsRefused(_ value: String) throws {
        let error = #expect(throws: (any Error).self) {
            _ = try PacerCommand.parseAsRoot(["run", "--max-seconds", value, "--db", db])
        }
        #expect("\(error.map { PacerCommand.message(for: $0) } ?? "")".contains("--max-seconds"), "\(String(describing: error))")
    }

    @Test func validAccountInputKeepsAPathPrefix() throws {
        let account = try Self.input(baseURL: "http://127.0.0.1:8080/bitz/").validated()
        #expect(account.baseURL == "http://127.0.0.1:8080/bitz")
        #expect(account.limit == RateLimit(count: 10, windowMilliseconds: 1000))
    }

    @Test func etaDurations() {
        #expect(DurationText.eta(seconds: 41.2) == "42s")
        #expect(DurationText.eta(seconds: 190) == "3m10s")
        #expect(DurationText.eta(seconds: 7_500) == "2h05m")
    }

    @Test func loopbackHosts() {
        #expect(AccountInput.isLoopback("127.0.0.1"))
        #expect(AccountInput.isLoopback("127.1.2.3"))
        #expect(AccountInput.isLoopback("localhost"))
        #expect(AccountInput.isLoopback("[::1]"))
        #expect(!AccountInput.isLoopback("127.example.com"))
        #expect(!AccountInput.isLoopback("10.0.0.1"))
    }
}
