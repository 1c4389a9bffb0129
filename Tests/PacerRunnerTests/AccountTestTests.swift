import Foundation
import PacerCore
import PacerEmulator
import PacerTestSupport
import Testing

/// `pacer account test` against the emulator, as a user runs it: a working account is accepted; a wrong secret,
/// a clock 10 s off (an emulator whose clock runs 10 s ahead) and an address outside the key's whitelist are each
/// named, with the provider's code. (A wrong KuCoin secret shows as a refused passphrase: the passphrase is sent
/// signed with the secret, and KuCoin checks it first.)
@Suite struct AccountTestTests {
    @Test func eachRefusedPartIsNamedWithTheProvidersCode() async throws {
        let dir = TempDir()
        let walled = ["10.9.8.7"] // not 127.0.0.1, where the test's requests come from
        let emulator = try Emulator(config: EmulatorConfig(accounts: [
            .init(provider: .kucoin, key: "kc-key", secret: "kc-secret", passphrase: "kc-pass", limit: "100/1s"),
            .init(provider: .kucoin, key: "kc-walled", secret: "kc-secret", passphrase: "kc-pass", limit: "100/1s",
                  allowedAddresses: walled),
            .init(provider: .bitunix, key: "bu-walled", secret: "bu-secret", limit: "100/1s", allowedAddresses: walled),
            .init(provider: .bitz, key: "bz-key", secret: "bz-secret", limit: "100/1s"),
            .init(provider: .kookeey, key: "kk-key", secret: "kk-secret", limit: "100/1s"),
        ]))
        let ahead = try Emulator(config: EmulatorConfig(accounts: [
            .init(provider: .kucoin, key: "kc-key", secret: "kc-secret", passphrase: "kc-pass", limit: "100/1s"),
        ]), now: { Int64(Date().timeIntervalSince1970 * 1000) + 10_000 })
        let running = try await emulator.start()
        let runningAhead = try await ahead.start()
        let (store, db) = try TestDatabase.sqlite.open(in: dir)
        func add(_ name: String, _ provider: Provider, key: String, secretEnv: String, on base: String) throws {
            try store.addAccount(Account(name: name, provider: provider, baseURL: base, limit: RateLimit(parsing: "50/1s")!,
                                         credentials: CredentialReferences(
                                            key: key, secretEnv: secretEnv,
                                            passphraseEnv: provider == .kucoin ? "AT_KC_PASS" : nil)),
                                 replace: false, nowMilliseconds: 0)
        }
        try add("kucoin-ok", .kucoin, key: "kc-key", secretEnv: "AT_KC_SECRET", on: running.baseURL(.kucoin))
        try add("kucoin-wrong-secret", .kucoin, key: "kc-key", secretEnv: "AT_WRONG", on: running.baseURL(.kucoin))
        try add("kucoin-walled", .kucoin, key: "kc-walled", secretEnv: "AT_KC_SECRET", on: running.baseURL(.kucoin))
        try add("kucoin-clock", .kucoin, key: "kc-key", secretEnv: "AT_KC_SECRET", on: runningAhead.baseURL(.kucoin))
        try add("bitunix-walled", .bitunix, key: "bu-walled", secretEnv: "AT_BU_SECRET", on: running.baseURL(.bitunix))
        try add("bitz-ok", .bitz, key: "bz-key", secretEnv: "AT_BZ_SECRET", on: running.baseURL(.bitz))
        try add("kookeey-wrong-secret", .kookeey, key: "kk-key", secretEnv: "AT_WRONG", on: running.baseURL(.kookeey))
        let env = ["AT_KC_SECRET": "kc-secret", "AT_KC_PASS": "kc-pass", "AT_BU_SECRET": "bu-secret",
                   "AT_BZ_SECRET": "bz-secret", "AT_WRONG": "not-the-secret"]
        func test(_ name: String) async throws -> (status: Int32, report: JSONValue?, stdout: String) {
            let result = try await PacerProcess.finish(["account", "test", name, "--json", "--db", db], environment: env)
            return (result.status, try? JSONValue(parsing: result.stdout), result.stdout + result.stderr)
        }

        for name in ["kucoin-ok", "bitz-ok"] {
            var ok = try await test(name)
            // KuCoin refuses a signature older than 5 s when it arrives: a request this process signed and then
            // could not send for 5 s (the full suite starving both cores) is refused for the clock although the
            // clock is right (the offset measured is small). Such a stall is not what this test is about: once more.
            if ok.report?["code"] == .string("400002"),
               case .number(let offset)? = ok.report?["clock_offset_ms"], abs(Double(offset) ?? 0) < 1_000 {
                ok = try await test(name)
            }
            #expect(ok.status == 0, "\(name): \(ok.stdout)")
            #expect(ok.report?["accepted"] == .bool(true))
            #expect(ok.report?["parts"]?["secret"] == .string("accepted"))
        }
        // A refused part is named, with the code; the others are unknown (the provider stopped there).
        for (name, part, code) in [("kucoin-wrong-secret", "passphrase", "400004"), // KuCoin signs the passphrase with the secret
                                    ("kucoin-walled", "address", "400006"),
                                   ("bitunix-walled", "address", "10004"), ("kucoin-clock", "clock", "400002"),
                                   ("kookeey-wrong-secret", "secret", "10059")] {
            let refused = try await test(name)
            #expect(refused.status == 1, "\(name): \(refused.stdout)")
            #expect(refused.report?["accepted"] == .bool(false), "\(name): \(refused.stdout)")
            #expect(refused.report?["code"] == .string(code), "\(name): \(refused.stdout)")
            #expect(refused.report?["parts"]?[part] == .string("refused"), "\(name): \(refused.stdout)")
            #expect(!refused.stdout.contains("not-the-secret") && !refused.stdout.contains("kc-secret"))
        }
        // The clock's offset is measured from KuCoin's time endpoint: this host is 10 s behind.
        let skew = try await test("kucoin-clock")
        let text = try await PacerProcess.finish(["account", "test", "kucoin-clock", "--db", db], environment: env)
        await running.stop()
        await runningAhead.stop()
        guard case .number(let offset)? = skew.report?["clock_offset_ms"], let ms = Double(offset) else {
            Issue.record("no clock offset: \(skew.stdout)"); return
        }
        #expect(abs(ms - 10_000) < 1_000, "offset \(ms)")
        #expect(text.stdout.contains("clock      refused: the request's time was refused"), "\(text.stdout)")
        #expect(text.stdout.contains(/this host is (9|10)\.\d s behind the provider/), "\(text.stdout)")
    }
}
