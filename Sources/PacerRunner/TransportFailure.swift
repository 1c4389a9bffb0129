import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PacerCore

/// Whether a request that got no answer may have reached the provider. Only failures to connect are certain
/// not to have; anything later (a timeout, a connection closed mid-answer) may have been acted on.
enum TransportFailure {
    static func kind(of error: any Error) -> RetryDecision.Kind {
        if let client = error as? HTTPClientError, client == .connectTimeout { return .notSent }
        if error is NIOConnectionError { return .notSent }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return .notSent }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return .notSent }
        return .unknownOutcome
    }
}
