import Foundation
import PacerCore
import PacerStorage
import PacerTestSupport
import Testing
@testable import PacerCLI

/// `pacer account import` as a user runs it (the binary), on both stores: every line checked first, then all
/// added in one transaction or none; `--replace` updates; `account list` filters by a glob.
@Suite struct AccountImportTests {
    let dir = TempDir()

    func pacer(_ args: [String], db: String) throws -> PacerProcess.Result {
        try PacerProcess.run(args + ["--db", db])
    }

    func write(_ name: String, _ text: String) throws -> String { dir.write(name, text) }

    static let header = "name,provider,base-url,limit,key,secret-env"
    static func line(_ i: Int, limit: String = "10/1s") -> String {
        "sub-\(i),kookeey,http://127.0.0.1:9/kookeey,\(limit),key\(i),SUB_SECRET"
    }

    @Test(arguments: TestDatabase.allCases)
    func aThousandAccountsArriveTogetherAndABadLineAddsNothing(_ database: TestDatabase) throws {
        let (store, db) = try database.open(in: dir)
        var lines = [Self.header] + (0..<1_000).map { Self.line($0) }
        lines[501] = Self.line(500, limit: "10 per second") // file line 502
        let bad = try write("bad.csv", lines.joined(separator: "\n") + "\n")
        let refused = try pacer(["account", "import", bad], db: db)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("bad.csv:502: limit '10 per second': expected"), "\(refused.stderr)")
        #expect(try store.accounts().isEmpty)

        lines[501] = Self.line(500)
        let good = try write("good.csv", lines.joined(separator: "\n") + "\n")
        let added = try pacer(["account", "import", good], db: db)
        #expect(added.status == 0, "\(added.stderr)")
        let accounts = try store.accounts()
        #expect(accounts.count == 1_000)
        #expect(accounts.first { $0.name == "sub-7" }?.credentials.key == "key7")

        // Again without --replace: refused at the first existing name's line, nothing changed.
        let again = try pacer(["account", "import", good], db: db)
        #expect(again.status != 0)
        #expect(again.stderr.contains("good.csv:2: name 'sub-0': exists already"), "\(again.stderr)")

        // JSON Lines with --replace: a new limit for two accounts, one account new.
        let jsonl = try write("update.jsonl", """
            {"name":"sub-1","provider":"kookeey","base-url":"http://127.0.0.1:9/kookeey","limit":"5/1s","key":"key1","secret-env":"SUB_SECRET"}
            {"name":"sub-2","provider":"kookeey","base-url":"http://127.0.0.1:9/kookeey","limit":"5/1s","key":"key2","secret-env":"SUB_SECRET"}
            {"name":"kc-new","provider":"kucoin","base-url":"http://127.0.0.1:9/kucoin","limit":"100/30s","key-env":"K","secret-env":"S","passphrase-env":"P"}

            """)
        let replaced = try pacer(["account", "import", "--replace", jsonl], db: db)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let after = try store.accounts()
        #expect(after.count == 1_001)
        #expect(after.first { $0.name == "sub-1" }?.limit == RateLimit(count: 5, windowMilliseconds: 1_000))
        #expect(after.first { $0.name == "sub-3" }?.limit == RateLimit(count: 10, windowMilliseconds: 1_000))

        let listed = try pacer(["account", "list", "sub-1?", "--json"], db: db)
        let names = listed.stdout.split(separator: "\"").filter { $0.hasPrefix("sub-") }
        #expect(names.count == 10, "\(listed.stdout.prefix(300))")
    }

    /// What each kind of bad line says: file, line, field, what was expected.
    @Test(arguments: [
        ("name,provider,base-url,limit,key,secret-env,colour\n", "x.csv:1: 'colour': not a field"),
        ("name,provider,limit\n", "x.csv:1: the header has no 'base-url' column"),
        ("\(header)\na,binance,http://127.0.0.1:9,10/1s,k,S\n", "x.csv:2: provider 'binance': expected kookeey"),
        ("\(header)\na,kookeey,http://10.0.0.1,10/1s,k,S\n", "x.csv:2: base-url 'http://10.0.0.1': http:// is allowed only"),
        ("\(header)\na,kookeey,http://127.0.0.1:9,10/1s,k\n", "x.csv:2: expected 6 comma-separated fields"),
        ("\(header)\na,kucoin,http://127.0.0.1:9,10/1s,k,S\n", "x.csv:2: a kucoin account needs passphrase-env"),
        ("\(header)\na,kookeey,http://127.0.0.1:9,10/1s,k,S\na,kookeey,http://127.0.0.1:9,10/1s,k,S\n",
         "x.csv:3: name 'a': already given on line 2"),
        ("\(header)\na,kookeey,http://127.0.0.1:9,10/1s;spot=0/1m,k,S\n", "x.csv:2: limit 'spot=0/1m': expected COUNT/WINDOW"),
        ("\(header)\n\"a,kookeey,http://127.0.0.1:9,10/1s,k,S\n", "x.csv:2: a quoted field is not closed"),
        ("\(header)\na,kookeey,http://127.0.0.1:9,10/1s,k,sk-live-123\n", "x.csv:2: secret-env: expected the NAME"),
    ])
    func aBadLineIsNamed(text: String, expected: String) throws {
        let path = try write("x.csv", text)
        let error = try #require(throws: CLIError.self) { try AccountFile(path: path) }
        #expect(error.description.hasPrefix(dir.url.appendingPathComponent(expected).path), "got: \(error)")
        #expect(!error.description.contains("sk-live-123"), "a value given as a variable name is echoed")
    }

    @Test func quotedFieldsKeepCommasAndQuotes() throws {
        #expect(try AccountFile.csvFields(#"a, "b, c" ,"say ""hi""",,"#, at: "f:1") == ["a", "b, c", #"say "hi""#, "", ""])
    }
}
