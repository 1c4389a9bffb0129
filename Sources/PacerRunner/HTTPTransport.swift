import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PacerProviders
import Synchronization

/// Sends signed requests with AsyncHTTPClient: pooled connections, a per-request deadline, and bodies read
/// whole (provider answers are small; a cap keeps a misbehaving server from filling memory). Redirects are not
/// followed: a 307 would re-send an order, and to another host it would carry the signing headers.
///
/// A request may carry a gate (`mayLeave`): while its head has not been written (it waits for a pooled
/// connection, a connect, a TLS handshake), the gate is asked again every `gateCheck`, and once it says no the
/// request is cancelled unwritten (`HeldBack`). The client runs on one event loop of its own, so the check and the
/// head's write never interleave: nothing is written after a check said no. A head written after the gate closed
/// but before a check noticed (at most `gateCheck` late, or later after the loop stalled) is asked again as it
/// leaves, and a body is then withheld. docs/internals.md ("The last moment before bytes leave") says what this
/// bounds and what it cannot.
public final class HTTPTransport: Sendable {
    let client: HTTPClient
    /// The client's only event loop (tests stall it).
    public let eventLoop: any EventLoop
    private let group: MultiThreadedEventLoopGroup
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
    public init(timeoutSeconds: Int64 = 30, connectionsPerHost: Int = 64, gateCheckMilliseconds: Int64 = 200) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(min(timeoutSeconds, 10)), read: .seconds(timeoutSeconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.decompression = .enabled(limit: .ratio(20))
        configuration.redirectConfiguration = .disallow
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        eventLoop = group.next()
        client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        timeout = .seconds(timeoutSeconds)
        gateCheck = .milliseconds(gateCheckMilliseconds)
    }

    /// Sends `request` and reads its answer. With `mayLeave`, the request is cancelled unwritten (throwing
    /// `HeldBack`) if the gate says no while the request still waits to be written.
    public func send(_ request: SignedRequest, mayLeave: (@Sendable () -> Bool)? = nil) async throws -> HTTPReply {
        var outgoing = try HTTPClient.Request(url: request.url, method: .init(rawValue: request.method.rawValue))
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = request.body { outgoing.body = .string(body) }
        let collector = ReplyCollector(limit: Self.maxResponseBytes, mayLeave: mayLeave, hasBody: request.body != nil)
        let task = client.execute(request: outgoing, delegate: collector, eventLoop: .delegate(on: eventLoop),
                                  deadline: .now() + timeout)
        if let mayLeave { watch(task, collector, mayLeave: mayLeave) }
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
    private func watch(_ task: HTTPClient.Task<HTTPReply>, _ collector: ReplyCollector,
                       mayLeave: @escaping @Sendable () -> Bool) {
        let interval = gateCheck, loop = eventLoop
        let next = Mutex<Scheduled<Void>?>(nil)
        @Sendable func check() {
            guard !collector.headSent, !collector.ended else { return }
            if !mayLeave() {
                collector.holdBack()
                task.cancel()
                return
            }
            next.withLock { $0 = loop.scheduleTask(in: interval) { check() } }
        }
        next.withLock { $0 = loop.scheduleTask(in: interval) { check() } }
        // The last check is dropped once the request ended, however it ended.
        task.futureResult.whenComplete { _ in next.withLock { $0?.cancel() } }
    }

    /// Must be called before the transport is released.
    public func shutdown() async throws {
        try await client.shutdown()
        try await group.shutdownGracefully()
    }
}

/// Collects one answer (status, headers, body up to a cap) and notes, on the request's event loop, whether its
/// head was written and whether its gate held it back. As the head leaves, a closed gate withholds the body.
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
    private let mayLeave: (@Sendable () -> Bool)?
    private let hasBody: Bool

    struct TooLarge: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "the answer is larger than \(limit) bytes" }
    }

    init(limit: Int, mayLeave: (@Sendable () -> Bool)? = nil, hasBody: Bool = false) {
        self.limit = limit
        self.mayLeave = mayLeave
        self.hasBody = hasBody
    }

    var headSent: Bool { state.withLock { $0.headSent } }
    var ended: Bool { state.withLock { $0.ended } }
    var heldBack: Bool { state.withLock { $0.heldBack } }
    func holdBack() { state.withLock { $0.heldBack = true } }

    func didSendRequestHead(task: HTTPClient.Task<HTTPReply>, _ head: HTTPRequestHead) {
        state.withLock { $0.headSent = true }
        // The head left after the gate closed (a stalled loop): the provider cannot act on a request whose body
        // never comes. The failure reads as "may have been sent", which is what it is.
        if hasBody, let mayLeave, !mayLeave() { task.cancel() }
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
