import Foundation
import PacerCore
import PacerEmulator
import PacerProviders
@testable import PacerRunner
import PacerTestSupport
import Testing

/// The transport's gate (`HTTPTransport.send(_:mayLeave:)`): a request still waiting in the HTTP client when its
/// runner may no longer send is cancelled before any of it is written.
///
/// The client runs on one event loop, which the test holds busy (as a stalled or paused process would) while the
/// order is handed over: when the loop comes back, the gate's overdue check and the connection's start are both
/// due, and the request must not leave. Waits on the real clock for `stall` once per test: the client's timers run
/// on NIO's event loop, which takes no injected clock.
@Suite(.serialized) struct TransportGateTests {
    static let stall: UInt32 = 150_000 // microseconds

    static func order(_ id: String, on running: RunningEmulator, at now: Int64) -> SignedRequest {
        let request = APIRequest(method: .post, path: "/api/v1/orders", params: [
            .init("clientOid", .string(id)), .init("symbol", .string("BTC-USDT")), .init("side", .string("buy"))])
        return Provider.kucoin.api.sign(request, baseURL: running.baseURL(.kucoin), credentials: Credentials(
            key: "kc-key", secret: "kc-secret", passphrase: "kc-pass"),
            inputs: SigningInputs(nowMilliseconds: now, nonce: ""))
    }

    /// Hands order "B" to a client whose only event loop is stalled, with `gate`; then sends order "C" with an
    /// open gate (once it is answered, B has left or never will). Returns what B's send threw (nil when it was
    /// answered) and the client keys of the orders the emulator received.
    func sendWhileTheLoopIsStalled(gate: (@Sendable () -> Bool)?) async throws -> (error: (any Error)?, received: Set<String>) {
        let time = ManualTime()
        let emulator = try Emulator(config: EmulatorConfig(accounts: [
            .init(provider: .kucoin, key: "kc-key", secret: "kc-secret", passphrase: "kc-pass", limit: "100/1s")]),
            now: { time.now() })
        let running = try await emulator.start()
        let transport = HTTPTransport(timeoutSeconds: 10, gateCheckMilliseconds: 20)
        let now = time.now()
        transport.eventLoop.execute { usleep(Self.stall) }
        let b = await Result(catching: { try await transport.send(Self.order("B", on: running, at: now), mayLeave: gate) })
        _ = try await transport.send(Self.order("C", on: running, at: now), mayLeave: { true })
        let error: (any Error)?
        switch b { case .success: error = nil; case .failure(let failure): error = failure }
        let received = Set(emulator.stats().accounts.flatMap { $0.keySubmissions.keys })
        try await transport.shutdown()
        await running.stop()
        return (error, received)
    }

    @Test func aRequestWhoseGateClosedWhileItWaitedIsNeverWritten() async throws {
        let (error, received) = try await sendWhileTheLoopIsStalled(gate: { false })
        #expect(error is HTTPTransport.HeldBack, "B: \(String(describing: error))")
        #expect(received == ["C"])
    }

    /// Without a gate the same request leaves once the loop is back: the client alone would send it late.
    @Test func withoutAGateTheStalledRequestLeavesLate() async throws {
        let (error, received) = try await sendWhileTheLoopIsStalled(gate: nil)
        #expect(error == nil)
        #expect(received == ["B", "C"])
    }

    @Test func anOpenGateLetsTheStalledRequestLeave() async throws {
        let (error, received) = try await sendWhileTheLoopIsStalled(gate: { true })
        #expect(error == nil)
        #expect(received == ["B", "C"])
    }
}
