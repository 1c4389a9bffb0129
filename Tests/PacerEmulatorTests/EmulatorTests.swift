import Foundation
import PacerCore
import PacerProviders
import PacerRunner
import PacerTestSupport
import Testing
@testable import PacerEmulator

/// The emulator in-process on 127.0.0.1 (port 0), driven by the real signers over HTTP. Its clock and the
/// signers' clock are one `ManualTime`, so nothing here waits on the wall clock.
@Suite(.serialized) struct EmulatorTests {
    let time = ManualTime()

    static let secrets: [Provider: String] = [.kookeey: "kk-secret", .kucoin: "kc-secret", .bitunix: "bu-secret",
                                              .bitz: "bz-secret"]

    func config(limit: String = "100/1s", faults: FaultSettings = .init()) -> EmulatorConfig {
        EmulatorConfig(accounts: Provider.allCases.map { p in
            .init(provider: p, key: "\(p.rawValue)-key", secret: Self.secrets[p]!,
                  passphrase: p == .kucoin ? "kc-pass" : nil, partner: p == .kucoin ? "goodbroker" : nil,
                  brokerKey: p == .kucoin ? "broker-key" : nil, limit: limit)
        }, faults: faults)
    }

    func credentials(_ p: Provider, secret: String? = nil) -> Credentials {
        Credentials(key: "\(p.rawValue)-key", secret: secret ?? Self.secrets[p]!,
                    passphrase: p == .kucoin ? "kc-pass" : nil, partner: p == .kucoin ? "goodbroker" : nil,
                    brokerName: p == .kucoin ? "Good" : nil, brokerKey: p == .kucoin ? "broker-key" : nil)
    }

    /// A representative private call per provider, with a body where the provider takes one.
    static func request(_ p: Provider, id: String = "A1") -> APIRequest {
        switch p {
        case .kookeey: return APIRequest(method: .get, path: "/stock", params: [.init("g", .string("433"))])
        case .kucoin: return APIRequest(method: .post, path: "/api/v1/orders", params: [
            .init("clientOid", .string(id)), .init("symbol", .string("BTC-USDT")), .init("side", .string("buy"))])
        case .bitunix: return APIRequest(method: .post, path: "/api/v1/futures/trade/cancel_orders", params: [
            .init("symbol", .string("BTCUSDT")), .init("orderIdList", .array([.string(id), .string("B2")]))])
        case .bitz: return APIRequest(method: .post, path: "/Trade/cancelAllEntrustSheet",
                                      params: [.init("ids", .string("\(id),7,8"))])
        }
    }

    func withEmulator(_ config: EmulatorConfig,
                      _ body: (Emulator, RunningEmulator, HTTPTransport) async throws -> Void) async throws {
        let emulator = try Emulator(config: config, now: { [time] in time.now() })
        let running = try await emulator.start()
        // Generous: these tests are about answers, and the full suite loads both cores.
        let transport = HTTPTransport(timeoutSeconds: 30)
        do { try await body(emulator, running, transport) } catch {
            try await transport.shutdown(); await running.stop(); throw error
        }
        try await transport.shutdown()
        await running.stop()
    }

    func sign(_ p: Provider, _ request: APIRequest, on running: RunningEmulator, secret: String? = nil,
              at: Int64? = nil, nonce: String = String(repeating: "n", count: 32)) -> SignedRequest {
        let length = p.api.nonceLength ?? 0
        return p.api.sign(request, baseURL: running.baseURL(p), credentials: credentials(p, secret: secret),
                          inputs: SigningInputs(nowMilliseconds: at ?? time.now(), nonce: String(nonce.prefix(length))))
    }

    @Test(arguments: Provider.allCases)
    func aCorrectlySignedCallIsAccepted(provider: Provider) async throws {
        try await withEmulator(config()) { emulator, running, transport in
            let reply = try await transport.send(sign(provider, Self.request(provider), on: running))
            let outcome = provider.api.interpret(reply, overrides: [:])
            #expect(outcome.classification == .ok, "\(provider): \(String(decoding: reply.body, as: UTF8.self))")
            #expect(emulator.stats().calls.count == 1)
        }
    }

    /// One byte changed in the secret, the body or the timestamp: refused with the provider's documented code,
    /// and classified as the code tables say. (KuCoin checks the passphrase, which the secret also signs, first.)
    @Test(arguments: [
        (Provider.kookeey, ["10059", "10059", "10059"], Classification.clock(escalatesToAuth: true)),
        (.kucoin, ["400004", "400005", "400005"], .auth),
        (.bitunix, ["10007", "10007", "10007"], .clock(escalatesToAuth: true)),
        (.bitz, ["-105", "-105", "-105"], .auth),
    ])
    func tamperedRequestsAreRefused(provider: Provider, codes: [String], classification: Classification) async throws {
        try await withEmulator(config()) { emulator, running, transport in
            var secret = Array(Self.secrets[provider]!.utf8)
            secret[0] ^= 1
            let badSecret = sign(provider, Self.request(provider), on: running, secret: String(decoding: secret, as: UTF8.self))

            var badBody = sign(provider, Self.request(provider, id: "A2"), on: running, nonce: String(repeating: "b", count: 32))
            if let body = badBody.body {
                badBody.body = body.replacingOccurrences(of: "A2", with: "A3")
            } else {
                badBody.url = badBody.url.replacingOccurrences(of: "g=433", with: "g=434")
            }

            var badTime = sign(provider, Self.request(provider, id: "A4"), on: running, nonce: String(repeating: "c", count: 32))
            let ts = String(time.now()), secs = String(time.now() / 1000), later = String(time.now() / 1000 + 1)
            switch provider {
            case .kookeey: badTime.url = badTime.url.replacingOccurrences(of: "ts=\(secs)", with: "ts=\(later)")
            case .bitz: badTime.body = badTime.body?.replacingOccurrences(of: "timeStamp=\(secs)", with: "timeStamp=\(later)")
            case .kucoin, .bitunix:
                let name = provider == .kucoin ? "KC-API-TIMESTAMP" : "timestamp"
                badTime.headers = badTime.headers.map { $0.name == name ? .init(name, String(Int64(ts)! + 1)) : $0 }
            }

            for (tampered, code) in zip([badSecret, badBody, badTime], codes) {
                let reply = try await transport.send(tampered)
                let outcome = provider.api.interpret(reply, overrides: [:])
                #expect(outcome.code == code, "\(provider): \(String(decoding: reply.body, as: UTF8.self))")
                #expect(outcome.classification == classification)
            }
            let rejected = emulator.stats().account("\(provider.rawValue)-key")?.rejected ?? [:]
            #expect(rejected.values.reduce(0, +) == 3)
            #expect(emulator.stats().calls.isEmpty)
        }
    }

    @Test(arguments: [
        (Provider.kookeey, "10015", Classification.clock(escalatesToAuth: false), Int64(31_000)),
        (.kucoin, "400002", .clock(escalatesToAuth: false), 5_001),
        (.bitunix, "10009", .clock(escalatesToAuth: false), 60_001),
        (.bitz, "-103", .clock(escalatesToAuth: true), 61_000),
    ])
    func staleTimestampsAreClockErrors(provider: Provider, code: String, classification: Classification,
                                       skew: Int64) async throws {
        try await withEmulator(config()) { _, running, transport in
            let stale = sign(provider, Self.request(provider), on: running, at: time.now() - skew)
            let outcome = provider.api.interpret(try await transport.send(stale), overrides: [:])
            #expect(outcome.code == code)
            #expect(outcome.classification == classification)
        }
    }

    @Test(arguments: [(Provider.kookeey, "60001"), (.kucoin, "429000"), (.bitunix, "10006"), (.bitz, "-110")])
    func theStrictWindowRefusesTheSixthCallUntilTheFirstLeaves(provider: Provider, code: String) async throws {
        try await withEmulator(config(limit: "5/1s")) { emulator, running, transport in
            var classes: [Classification] = []
            for i in 0..<7 {
                let nonce = String(repeating: String(i), count: 32)
                let reply = try await transport.send(sign(provider, Self.request(provider, id: "W\(i)"), on: running, nonce: nonce))
                let outcome = provider.api.interpret(reply, overrides: [:])
                classes.append(outcome.classification)
                if i >= 5 { #expect(outcome.code == code) }
                time.advance(milliseconds: 10)
            }
            #expect(classes == [.ok, .ok, .ok, .ok, .ok, .rateLimited, .rateLimited])
            time.advance(milliseconds: 1_000)
            let again = try await transport.send(sign(provider, Self.request(provider, id: "W9"), on: running,
                                                      nonce: String(repeating: "z", count: 32)))
            #expect(provider.api.interpret(again, overrides: [:]).classification == .ok)
            let stats = try #require(emulator.stats().account("\(provider.rawValue)-key"))
            #expect(stats.maxAcceptedInWindow == 5)
            #expect(stats.maxSentInWindow == 7)
            #expect(stats.rejected["rate_limited"] == 2)
        }
    }

    @Test func kucoinRateLimitCarriesTheResetHeader() async throws {
        try await withEmulator(config(limit: "1/30s")) { _, running, transport in
            _ = try await transport.send(sign(.kucoin, Self.request(.kucoin, id: "R1"), on: running))
            time.advance(milliseconds: 10_000)
            let reply = try await transport.send(sign(.kucoin, Self.request(.kucoin, id: "R2"), on: running))
            let outcome = KuCoin().interpret(reply, overrides: [:])
            #expect(reply.status == 429)
            #expect(outcome.classification == .rateLimited)
            #expect(outcome.retryAfterMilliseconds == 20_000)
        }
    }

    @Test func bitunixNoncesMayNotRepeat() async throws {
        try await withEmulator(config()) { _, running, transport in
            let first = try await transport.send(sign(.bitunix, Self.request(.bitunix, id: "N1"), on: running))
            #expect(Bitunix().interpret(first, overrides: [:]).classification == .ok)
            let again = try await transport.send(sign(.bitunix, Self.request(.bitunix, id: "N2"), on: running))
            #expect(Bitunix().interpret(again, overrides: [:]).code == "10007")
        }
    }

    @Test func kucoinServerTimeIsUnsigned() async throws {
        try await withEmulator(config()) { _, running, transport in
            let reply = try await transport.send(SignedRequest(method: .get, url: running.baseURL(.kucoin) + KuCoin.serverTimePath,
                                                               headers: [], body: nil))
            #expect(KuCoin.serverTime(from: reply) == time.now())
        }
    }

    @Test func injectedFaultsAreProvidersAnswersOrBrokenConnections() async throws {
        try await withEmulator(config()) { emulator, running, transport in
            var faults = FaultSettings()
            faults.rateLimit = 1
            emulator.setFaults(faults)
            let limited = try await transport.send(sign(.kookeey, Self.request(.kookeey), on: running))
            #expect(Kookeey().interpret(limited, overrides: [:]).classification == .rateLimited)

            faults = FaultSettings()
            faults.unavailable = 1
            emulator.setFaults(faults)
            #expect(try await transport.send(sign(.kookeey, Self.request(.kookeey), on: running)).status == 503)

            faults = FaultSettings()
            faults.drop = 1
            emulator.setFaults(faults)
            await #expect(throws: (any Error).self) {
                _ = try await transport.send(sign(.kucoin, Self.request(.kucoin, id: "D1"), on: running))
            }
            #expect(emulator.stats().calls.isEmpty, "a dropped call did nothing")

            faults = FaultSettings()
            faults.lostResponse = 1
            emulator.setFaults(faults)
            await #expect(throws: (any Error).self) {
                _ = try await transport.send(sign(.kucoin, Self.request(.kucoin, id: "L1"), on: running))
            }
            #expect(emulator.stats().calls.count == 1, "a lost response was still performed")
        }
    }

    @Test func faultsAndStatsOverHTTP() async throws {
        try await withEmulator(config()) { _, running, transport in
            let base = "http://127.0.0.1:\(running.port)/_emulator"
            let put = SignedRequest(method: .put, url: base + "/faults", headers: [.init("Content-Type", "application/json")],
                                    body: #"{"seed":7,"serverError":1}"#)
            #expect(try await transport.send(put).status == 204)
            #expect(try await transport.send(sign(.kookeey, Self.request(.kookeey), on: running)).status == 500)
            let stats = try await transport.send(SignedRequest(method: .get, url: base + "/stats", headers: [], body: nil))
            let decoded = try JSONDecoder().decode(EmulatorStats.self, from: Data(stats.body))
            #expect(decoded.account("kookeey-key")?.rejected["fault_500"] == 1)
            let bad = SignedRequest(method: .put, url: base + "/faults", headers: [], body: "nope")
            #expect(try await transport.send(bad).status == 400)
        }
    }

    @Test func aSecondCancelOfTheSameOrderIsRefusedAndVisibleInTheStats() async throws {
        try await withEmulator(config()) { emulator, running, transport in
            let cancel = APIRequest(method: .delete, path: "/api/v1/orders/5c35c02703aa673ceec2a168")
            let first = try await transport.send(sign(.kucoin, cancel, on: running))
            #expect(KuCoin().interpret(first, overrides: [:]).classification == .ok)
            let second = try await transport.send(sign(.kucoin, cancel, on: running))
            let outcome = KuCoin().interpret(second, overrides: [:])
            #expect(outcome.code == "400100")
            #expect(outcome.classification == .permanent)
            #expect(emulator.stats().duplicatedCalls.count == 1)
        }
    }

    @Test func badRequestsGetTheProvidersErrorNotACrash() async throws {
        try await withEmulator(config()) { _, running, transport in
            let garbage = SignedRequest(method: .post, url: running.baseURL(.bitz) + "/Trade/cancelAllEntrustSheet",
                                        headers: [.init("Content-Type", "application/x-www-form-urlencoded")], body: "%%%&&==")
            #expect(BitZ().interpret(try await transport.send(garbage), overrides: [:]).code == "-109")
            let noHeaders = SignedRequest(method: .get, url: running.baseURL(.kucoin) + "/api/v1/orders", headers: [], body: nil)
            #expect(KuCoin().interpret(try await transport.send(noHeaders), overrides: [:]).code == "400003")
            let unknown = try await transport.send(sign(.bitunix, APIRequest(method: .get, path: "/nope"), on: running))
            #expect(unknown.status == 404)
            let badJSON = APIRequest(method: .post, path: "/api/v1/futures/trade/cancel_orders", body: "{not json")
            let refused = try await transport.send(sign(.bitunix, badJSON, on: running, nonce: String(repeating: "q", count: 32)))
            #expect(Bitunix().interpret(refused, overrides: [:]).code == "10002")
        }
    }
}
