import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PacerCore
import ServiceLifecycle
import UnixSignals

/// A local server speaking all four APIs under their own path prefixes (`/kookeey`, `/kucoin`, `/bitunix`,
/// `/bitz`), strictly: it verifies signatures as the real APIs document, enforces timestamp windows and a strict
/// sliding window per account, answers with each provider's codes, and can inject faults. Control endpoints:
/// `GET /_emulator/stats`, `PUT /_emulator/faults` (a `FaultSettings` JSON body).
public final class Emulator: Sendable {
    let state: EmulatorState

    /// - Parameter now: the emulator's clock in epoch milliseconds (the wall clock unless a test injects one).
    public init(config: EmulatorConfig = .demo,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) throws {
        state = try EmulatorState(config: config, now: now)
    }

    public func stats() -> EmulatorStats { state.stats() }
    public func setFaults(_ faults: FaultSettings) { state.setFaults(faults) }
    /// Forgets the per-window peaks seen so far (`EmulatorStats.Account.maxAcceptedInWindow`, `maxSentInWindow`).
    public func resetPeaks() { state.resetPeaks() }

    /// Serves one request for `provider`: a slow way in (if drawn), authentication, the window, faults, then
    /// business logic; a slow account's answers wait its latency.
    func handle(_ request: EmulatorRequest, provider: Provider) async -> EmulatorResponse {
        if let delay = state.inboundDelay() { try? await Task.sleep(for: .milliseconds(delay)) }
        let api = provider.emulated
        let now = state.now()
        if let answer = api.publicAnswer(request, now: now) {
            state.countPublic(provider)
            return answer
        }
        let key: String
        switch api.authenticate(request, state: state, now: now) {
        case .refused(let k, let reason, let response):
            state.reject(provider, key: k, reason)
            return response
        case .accepted(let k):
            key = k
        }
        if let allowed = state.account(provider, key: key)?.allowedAddresses,
           !allowed.contains(request.remoteAddress ?? ""), let refusal = api.addressRefused(now: now) {
            state.reject(provider, key: key, .addressRefused)
            return refusal
        }
        state.track(provider, key: key, entering: true)
        defer { state.track(provider, key: key, entering: false) }
        var answer = await serve(request, api: api, provider: provider, key: key, now: now)
        if let quota = state.quota(provider, key: key, path: request.path, now: now) {
            let stated = api.quotaHeaders(limit: quota.limit, remaining: quota.remaining, resetMilliseconds: quota.reset)
            let names = Set(answer.headers.map { $0.0.lowercased() })
            answer.headers += stated.filter { !names.contains($0.0.lowercased()) }
        }
        if let latency = state.account(provider, key: key)?.latencyMilliseconds, latency > 0 {
            try? await Task.sleep(for: .milliseconds(latency))
        }
        return answer
    }

    private func serve(_ request: EmulatorRequest, api: any EmulatedAPI, provider: Provider, key: String,
                       now: Int64) async -> EmulatorResponse {
        let logical = api.logicalCall(request) // computed once: the fault draw and the business logic both use it
        switch state.admit(provider, key: key, logicalCall: logical, method: request.method, path: request.path, at: now) {
        case .limited(let reset):
            return api.rateLimited(resetMilliseconds: reset, now: now)
        case .admitted(nil):
            return api.serve(request, key: key, logical: logical, state: state, now: now)
        case .admitted(let fault?):
            switch fault {
            case .rateLimit:
                state.reject(provider, key: key, .faultRateLimit)
                return api.rateLimited(resetMilliseconds: 100, now: now)
            case .clock:
                state.reject(provider, key: key, .faultClock)
                return api.clockError(now: now)
            case .serverError:
                state.reject(provider, key: key, .faultServerError)
                return EmulatorResponse(status: 500, body: "Internal Server Error")
            case .unavailable:
                state.reject(provider, key: key, .faultUnavailable)
                return EmulatorResponse(status: 503, body: "Service Unavailable")
            case .drop:
                state.reject(provider, key: key, .faultDrop)
                return .dropped
            case .lostResponse:
                _ = api.serve(request, key: key, logical: logical, state: state, now: now) // done, but the answer never arrives
                state.reject(provider, key: key, .faultLostResponse)
                return .dropped
            case .gatewayTimeout:
                _ = api.serve(request, key: key, logical: logical, state: state, now: now) // done, then the gateway gives up
                state.reject(provider, key: key, .faultGatewayTimeout)
                return EmulatorResponse(status: 504, body: "Gateway Timeout")
            case .slow(let ms):
                try? await Task.sleep(for: .milliseconds(ms))
                return api.serve(request, key: key, logical: logical, state: state, now: state.now())
            }
        }
    }

    /// Serves HTTP on `host:port` (port 0 picks a free one) until a signal in `shutdownSignals` arrives (or the
    /// task is cancelled). `onRunning` receives the bound port.
    public func run(host: String = "127.0.0.1", port: Int, shutdownSignals: [UnixSignal] = [],
                    onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await serviceGroup(host: host, port: port, shutdownSignals: shutdownSignals, onRunning: onRunning).run()
    }

    /// Starts serving on 127.0.0.1 with a free port, for tests; stop it with `RunningEmulator.stop()`.
    public func start() async throws -> RunningEmulator {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let group = serviceGroup(host: "127.0.0.1", port: 0, shutdownSignals: []) { continuation.yield($0) }
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw EmulatorError("the emulator did not start") }
        return RunningEmulator(port: port, group: group, task: task)
    }

    private func serviceGroup(host: String, port: Int, shutdownSignals: [UnixSignal],
                              onRunning: @escaping @Sendable (Int) async -> Void) -> ServiceGroup {
        var logger = Logger(label: "pacer.emulator")
        logger.logLevel = .warning
        let app = Application(
            responder: CallbackResponder<EmulatorContext> { [self] request, context in
                try await self.respond(to: request, from: context.remoteAddress)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "pacer-emulator"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
        return ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: shutdownSignals,
                                                 logger: logger))
    }

    private func respond(to request: Request, from remoteAddress: String?) async throws -> Response {
        let path = request.uri.path
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        let first = parts.first.map(String.init) ?? ""
        if first == "_emulator" { return try await control(request, action: parts.count > 1 ? String(parts[1]) : "") }
        guard let provider = Provider(rawValue: first) else {
            return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "unknown provider prefix\n")))
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let body = try await request.body.collect(upTo: 1 << 20)
        let emulated = EmulatorRequest(
            method: request.method.rawValue, path: parts.count > 1 ? "/" + parts[1] : "/",
            rawQuery: request.uri.query ?? "", headers: headers, body: Array(body.readableBytesView),
            remoteAddress: remoteAddress)
        let answer = await handle(emulated, provider: provider)
        if answer.drop {
            // Close the connection mid-answer: the client sees an error, not a response.
            return Response(status: .ok, body: ResponseBody { _ in throw EmulatorError("connection dropped (injected)") })
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in answer.headers { if let n = HTTPField.Name(name) { fields[n] = value } }
        return Response(status: .init(code: answer.status), headers: fields,
                        body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }

    private func control(_ request: Request, action: String) async throws -> Response {
        switch (request.method, action) {
        case (.get, "stats"):
            let data = try JSONEncoder().encode(stats())
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        case (.put, "faults"), (.post, "faults"):
            let body = try await request.body.collect(upTo: 1 << 16)
            guard let faults = try? JSONDecoder().decode(FaultSettings.self, from: Data(body.readableBytesView)) else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "expected FaultSettings JSON\n")))
            }
            setFaults(faults)
            return Response(status: .noContent)
        default:
            return Response(status: .notFound)
        }
    }
}

/// An emulator serving in the background on 127.0.0.1.
public struct RunningEmulator: Sendable {
    public let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    public func baseURL(_ provider: Provider) -> String { "http://127.0.0.1:\(port)/\(provider.rawValue)" }

    /// Stops accepting, lets requests in progress finish, and waits until the server has closed.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// Hummingbird's basic context plus the client's address (the emulator's whitelists read it).
struct EmulatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}
