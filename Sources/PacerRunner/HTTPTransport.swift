import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PacerProviders

/// Sends signed requests with AsyncHTTPClient: pooled connections, a per-request deadline, and bodies read
/// whole (provider answers are small; a cap keeps a misbehaving server from filling memory).
public final class HTTPTransport: Sendable {
    let client: HTTPClient
    let timeout: TimeAmount
    static let maxResponseBytes = 8 << 20

    /// - Parameters:
    ///   - connectionsPerHost: AsyncHTTPClient's default is 8; a runner with more requests in flight per host
    ///     needs more, or requests queue inside the client and the limiter's timing is lost.
    public init(timeoutSeconds: Int64 = 30, connectionsPerHost: Int = 64) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(min(timeoutSeconds, 10)), read: .seconds(timeoutSeconds))
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.decompression = .enabled(limit: .ratio(20))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        timeout = .seconds(timeoutSeconds)
    }

    public func send(_ request: SignedRequest) async throws -> HTTPReply {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = .init(rawValue: request.method.rawValue)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(outgoing, timeout: timeout)
        let body = try await response.body.collect(upTo: Self.maxResponseBytes)
        return HTTPReply(status: Int(response.status.code),
                         headers: response.headers.map { ($0.name, $0.value) },
                         body: Array(body.readableBytesView))
    }

    /// Must be called before the transport is released.
    public func shutdown() async throws { try await client.shutdown() }
}
