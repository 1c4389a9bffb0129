import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PacerProviders
import Synchronization

/// Sends signed requests with AsyncHTTPClient: pooled connections, a per-request deadline, and bodies read
/// whole (provider answers are small; a cap keeps a misbehaving server from filling memory).
///
/// A request may carry a gate (`mayLeave`): while its head has not been written (it waits for a pooled
/// connection, a connect, a TLS handshake), the gate is asked again every `gateCheck`, and once it says no the
/// request is cancelled unwritten (`HeldBack`). The check and the write run on the same event loop, so a request
/// either left before the gate closed or never leaves. docs/internals.md ("The last moment before bytes leave")
/// says what this bounds and what it cannot (a process stopped inside the client).
public final class HTTPTransport: Sendable {
    let client: HTTPClient
    let timeout: TimeAmount
    static let maxResponseBytes = 8 << 20
    /// How long a request's head may wait before its gate is asked again.
    let gateCheck: TimeAmount

    /// The request was cancelled before any of it was written: its gate closed while it waited.
    public struct HeldBack: Error, Sendable, CustomStringConvertible {
        public var description: String { "held back before it was written (its gate closed while it waited)" }
    }

    /// - Parameters:
    ///   - connectionsPerHost: AsyncHTTPClient's default is 8; a runner with more requests in flight per host
    ///     needs more, or requests queue inside the client and the limiter's timing is lost.
    ///   - eventLoopGroup: NIO's shared group unless given (tests pin one loop to make the pool queue).
    public init(timeoutSeconds: Int64 = 30, connectionsPerHost: Int = 64, gateCheckMilliseconds: Int64 = 200,
                eventLoopGroup: (any EventLoopGroup)? = nil) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(min(timeoutSeconds, 10)), read: .seconds(timeoutSeconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.decompression = .enabled(limit: .ratio(20))
        client = HTTPClient(eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
                            configuration: configuration)
        timeout = .seconds(timeoutSeconds)
        gateCheck = .milliseconds(gateCheckMilliseconds)
    }

    /// Sends `request` and reads its answer. With `mayLeave`, the request is cancelled unwritten (throwing
    /// `HeldBack`) if the gate says no while the request still waits to be written.
    public func send(_ request: SignedRequest, mayLeave: (@Sendable () -> Bool)? = nil) async throws -> HTTPReply {
        var outgoing = try HTTPClient.Request(url: request.url, method: .init(rawValue: request.method.rawValue))
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = request.body { outgoing.body = .string(body) }
        // With a gate, the delegate and the connection on one loop: the gate's check and the head's write never
        // interleave. Without one, any loop and any pooled connection.
        let loop = client.eventLoopGroup.next()
        let collector = ReplyCollector(limit: Self.maxResponseBytes)
        let task = client.execute(request: outgoing, delegate: collector,
                                  eventLoop: mayLeave == nil ? .indifferent : .delegateAndChannel(on: loop),
                                  deadline: .now() + timeout)
        if let mayLeave { watch(task, collector, on: loop, mayLeave: mayLeave) }
        do {
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch {
            if collector.heldBack { throw HeldBack() }
            throw error
        }
    }

    /// Asks the gate every `gateCheck` until the request's head is written or the request ends.
    private func watch(_ task: HTTPClient.Task<HTTPReply>, _ collector: ReplyCollector, on loop: any EventLoop,
                       mayLeave: @escaping @Sendable () -> Bool) {
        let interval = gateCheck
        @Sendable func check() {
            guard !collector.headSent, !collector.ended else { return }
            if !mayLeave() {
                collector.holdBack()
                task.cancel()
                return
            }
            loop.scheduleTask(in: interval) { check() }
        }
        loop.scheduleTask(in: interval) { check() }
    }

    /// Must be called before the transport is released.
    public func shutdown() async throws { try await client.shutdown() }
}

/// Collects one answer (status, headers, body up to a cap) and notes, on the request's event loop, whether its
/// head was written and whether its gate held it back.
final class ReplyCollector: HTTPClientResponseDelegate, Sendable {
    typealias Response = HTTPReply
    private struct State {
        var headSent = false
        var ended = false
        var heldBack = false
        var head: HTTPResponseHead?
        var body = ByteBuffer()
    }
    private let state = Mutex(State())
    private let limit: Int

    struct TooLarge: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "the answer is larger than \(limit) bytes" }
    }

    init(limit: Int) { self.limit = limit }

    var headSent: Bool { state.withLock { $0.headSent } }
    var ended: Bool { state.withLock { $0.ended } }
    var heldBack: Bool { state.withLock { $0.heldBack } }
    func holdBack() { state.withLock { $0.heldBack = true } }

    func didSendRequestHead(task: HTTPClient.Task<HTTPReply>, _ head: HTTPRequestHead) {
        state.withLock { $0.headSent = true }
    }

    func didReceiveHead(task: HTTPClient.Task<HTTPReply>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<HTTPReply>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        let fits = state.withLock { state -> Bool in
            guard state.body.readableBytes + part.readableBytes <= limit else { return false }
            var part = part
            state.body.writeBuffer(&part)
            return true
        }
        return fits ? task.eventLoop.makeSucceededVoidFuture() : task.eventLoop.makeFailedFuture(TooLarge(limit: limit))
    }

    func didReceiveError(task: HTTPClient.Task<HTTPReply>, _ error: any Error) {
        state.withLock { $0.ended = true }
    }

    func didFinishRequest(task: HTTPClient.Task<HTTPReply>) throws -> HTTPReply {
        try state.withLock { state in
            state.ended = true
            guard let head = state.head else { throw HTTPClientError.remoteConnectionClosed }
            return HTTPReply(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) },
                             body: Array(state.body.readableBytesView))
        }
    }
}
