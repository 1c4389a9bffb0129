import Foundation
import Synchronization

/// A TCP proxy on 127.0.0.1 that can go silent the way a network partition does: every connection stays open
/// (no FIN, no RST) and nothing is forwarded either way; connections made while silent are accepted and get
/// nothing. Tests put it between a runner and its PostgreSQL server. With a delay it is also a network hop: every
/// byte reaches the other side that long after it arrived, each way (`pacer-bench postgres` across a network).
public final class SilentProxy: Sendable {
    public let port: Int
    private let targetPort: UInt16
    private let delayNanoseconds: UInt64
    private let listener: Int32
    private let silent = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let clientWrites = Atomic<Int>(0)

    /// How many chunks clients have sent through so far: about one per round trip of a request-reply protocol.
    public var chunksFromClients: Int { clientWrites.load(ordering: .relaxed) }

    /// Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`targetPort`, `delayMilliseconds` late each way.
    public init(to targetPort: Int, delayMilliseconds: Double = 0) throws {
        self.targetPort = UInt16(targetPort)
        delayNanoseconds = UInt64(max(0, delayMilliseconds) * 1_000_000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops forwarding, keeping every connection open.
    public func silence() { silent.store(true, ordering: .relaxed) }

    /// Stops accepting; open connections stay as they are until the process ends.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(client); close(server); continue }
            for (source, destination) in [(client, server), (server, client)] {
                let line = DelayLine(), counted = source == client
                Thread.detachNewThread { [self] in pump(from: source, to: line, counted: counted) }
                Thread.detachNewThread { line.drain(to: destination) }
            }
        }
    }

    /// Reads chunks into `line`, each due `delayNanoseconds` after it arrived, until the source closes or the line
    /// can no longer write; then ends the line, passing the close on. While silent, reads and drops them (so
    /// nothing queues up and nothing is answered), and a close is not passed on either.
    private func pump(from source: Int32, to line: DelayLine, counted: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            if silent.load(ordering: .relaxed) { continue }
            if counted { clientWrites.add(1, ordering: .relaxed) }
            guard line.push(.bytes(Array(buffer[0..<n])), due: DispatchTime.now().uptimeNanoseconds + delayNanoseconds)
            else { return }
        }
        let end: DelayLine.Item = silent.load(ordering: .relaxed) ? .end : .close
        _ = line.push(end, due: DispatchTime.now().uptimeNanoseconds + delayNanoseconds)
    }
}

/// Chunks in flight on one direction of a connection, written out in order once due.
private final class DelayLine: @unchecked Sendable {
    enum Item {
        case bytes([UInt8])
        /// The source closed: so does the destination's sending side.
        case close
        /// The source closed while silent: nothing is passed on.
        case end
    }
    private let condition = NSCondition()
    private var items: [(item: Item, due: UInt64)] = [] // guarded by `condition`
    private var broken = false // guarded by `condition`: a write failed, nothing more is taken

    /// Queues an item; false once a write has failed.
    func push(_ item: Item, due: UInt64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !broken else { return false }
        items.append((item, due))
        condition.signal()
        return true
    }

    func drain(to destination: Int32) {
        while true {
            condition.lock()
            while items.isEmpty { condition.wait() }
            let (item, due) = items.removeFirst()
            condition.unlock()
            let now = DispatchTime.now().uptimeNanoseconds
            if due > now { usleep(UInt32((due - now) / 1_000)) }
            switch item {
            case .close: shutdown(destination, Int32(SHUT_WR)); return
            case .end: return
            case .bytes(let bytes):
                var sent = 0
                while sent < bytes.count {
                    let w = bytes.withUnsafeBytes { write(destination, $0.baseAddress! + sent, bytes.count - sent) }
                    guard w > 0 else {
                        condition.lock()
                        broken = true
                        condition.unlock()
                        return
                    }
                    sent += w
                }
            }
        }
    }
}
