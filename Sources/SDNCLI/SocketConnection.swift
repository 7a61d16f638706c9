import Foundation
import Glibc

/// One stream socket to sdnd (Unix or TCP), non-blocking, every wait bounded by a deadline (none: wait
/// as long as it takes, for an event stream the user ends).
///
/// Plain POSIX sockets on purpose: the `sdn` binary links no networking framework.
final class SocketConnection {
    private let descriptor: Int32
    let server: ServerAddress

    private init(descriptor: Int32, server: ServerAddress) {
        self.descriptor = descriptor
        self.server = server
    }

    deinit { close(descriptor) }

    static func connect(to server: ServerAddress, deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> SocketConnection {
        switch server.endpoint {
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard bytes.count < capacity, !bytes.contains(0) else {
                throw .invalidServer(server.description, "a Unix socket path has at most \(capacity - 1) bytes and no NUL")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
            return try withUnsafePointer(to: &address) { pointer throws(DaemonClientError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(DaemonClientError) in
                    try connect(server: server, family: AF_UNIX, address: address, length: length, deadline: deadline)
                }
            }
        case .tcp(let host, let port), .https(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw .unreachable(server: server.description, reason: "cannot resolve \(host): \(String(cString: gai_strerror(status)))", daemonMayBeDown: false)
            }
            defer { freeaddrinfo(list) }
            var lastError = DaemonClientError.unreachable(server: server.description, reason: "no address for \(host)", daemonMayBeDown: false)
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                do {
                    return try connect(server: server, family: current.pointee.ai_family, address: current.pointee.ai_addr,
                                       length: current.pointee.ai_addrlen, deadline: deadline)
                } catch {
                    lastError = error
                }
                entry = current.pointee.ai_next
            }
            throw lastError
        }
    }

    private static func connect(server: ServerAddress, family: Int32, address: UnsafePointer<sockaddr>, length: socklen_t,
                                deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> SocketConnection {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else {
            throw .unreachable(server: server.description, reason: "cannot make a socket: \(String(cString: strerror(errno)))", daemonMayBeDown: false)
        }
        let connection = SocketConnection(descriptor: descriptor, server: server)
        if Glibc.connect(descriptor, address, length) == 0 { return connection }
        let failure = errno
        guard failure == EINPROGRESS || failure == EINTR else { throw unreachable(server, errno: failure) }
        try connection.wait(for: Int16(POLLOUT), deadline: deadline, waitingFor: "the connection")
        var pending: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &pending, &size)
        guard pending == 0 else { throw unreachable(server, errno: pending) }
        return connection
    }

    /// The reasons people meet, in their words; the "is sdnd running?" hint only where it is the likely cause.
    private static func unreachable(_ server: ServerAddress, errno code: Int32) -> DaemonClientError {
        let description = server.description
        switch code {
        case ENOENT: return .unreachable(server: description, reason: "no such file", daemonMayBeDown: true)
        case ECONNREFUSED: return .unreachable(server: description, reason: "connection refused", daemonMayBeDown: true)
        case EACCES, EPERM:
            return .unreachable(server: description, reason: "permission denied (the socket is for root and the sdn group: use sudo or join the group)", daemonMayBeDown: false)
        case EAGAIN: return .unreachable(server: description, reason: "sdnd accepts no more connections right now (its backlog is full); try again", daemonMayBeDown: false)
        default: return .unreachable(server: description, reason: String(cString: strerror(code)).lowercased(), daemonMayBeDown: false)
        }
    }

    /// Sends every byte (a peer that closed early is a broken response, never SIGPIPE).
    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws(DaemonClientError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 {
                offset += sent
                continue
            }
            let failure = errno
            if failure == EINTR { continue }
            if failure == EAGAIN || failure == EWOULDBLOCK {
                try wait(for: Int16(POLLOUT), deadline: deadline, waitingFor: "sending the request")
                continue
            }
            throw .brokenResponse(server: server.description, reason: "the connection broke while sending the request (\(String(cString: strerror(failure))))")
        }
    }

    /// The next bytes the peer sent, at most `limit`; empty at the end of the stream.
    func read(upTo limit: Int, deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return Array(chunk[0..<count]) }
            let failure = errno
            if failure == EINTR { continue }
            if failure == EAGAIN || failure == EWOULDBLOCK {
                try wait(for: Int16(POLLIN), deadline: deadline, waitingFor: "the response")
                continue
            }
            if failure == ECONNRESET { return [] }
            throw .brokenResponse(server: server.description, reason: "the connection broke while reading the response (\(String(cString: strerror(failure))))")
        }
    }

    private func wait(for events: Int16, deadline: ContinuousClock.Instant?, waitingFor: String) throws(DaemonClientError) {
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let left = deadline - .now
                if left <= .zero { throw .timedOut(server: server.description, waitingFor: waitingFor) }
                let (seconds, attoseconds) = left.components
                milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready == 0 { continue }  // the deadline check above ends the wait
            if errno == EINTR { continue }
            throw .brokenResponse(server: server.description, reason: "poll failed (\(String(cString: strerror(errno))))")
        }
    }
}
