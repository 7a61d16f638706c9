import Foundation
import Glibc

// A minimal HTTP/1.1 client over POSIX sockets, for the daemon benchmarks: no client library sits
// between the clock and the socket, and a connection is used by one thread at a time.

/// Where the daemon listens: its Unix socket (trusted, no token) or a loopback TCP listener.
enum HTTPEndpoint: CustomStringConvertible, Sendable {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// `--socket PATH` or `--url http://127.0.0.1:PORT` from the command line.
    static func fromCommandLine() throws -> HTTPEndpoint {
        if let path = stringOption("socket") { return .unix(path: path) }
        guard let url = stringOption("url") else { throw BenchFailure("give --socket PATH or --url http://127.0.0.1:PORT") }
        return try parse(url: url)
    }

    /// `http://HOST:PORT` (a path after it is ignored).
    static func parse(url: String) throws -> HTTPEndpoint {
        guard url.hasPrefix("http://") else { throw BenchFailure("--url \(url): only plain http://HOST:PORT is supported") }
        let authority = url.dropFirst("http://".count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]) else {
            throw BenchFailure("--url \(url): write http://127.0.0.1:PORT")
        }
        return .tcp(host: String(authority[..<colon]), port: port)
    }

    var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): "http://\(host):\(port)"
        }
    }
}

struct HTTPResponse {
    var status: Int
    var body: [UInt8]
    /// The server will keep the connection open (HTTP/1.1 without `Connection: close`).
    var keepAlive: Bool
    var headers: [String: String]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// One connection. Not thread-safe: one request at a time, from one thread.
final class HTTPConnection {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    init(_ endpoint: HTTPEndpoint) throws {
        descriptor = try Self.connected(endpoint)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A connected socket; closed here when connecting fails (the caller never sees it then).
    private static func connected(_ endpoint: HTTPEndpoint) throws -> Int32 {
        let descriptor: Int32
        let result: Int32
        switch endpoint {
        case .unix(let path):
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw BenchFailure("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(descriptor); throw BenchFailure("socket path too long: \(path)") }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in bytes.enumerated() { raw[index] = byte } }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        case .tcp(let host, let port):
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw BenchFailure("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
                close(descriptor)
                throw BenchFailure("--url: \(host) is not an IPv4 address")
            }
            var one: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if result != 0 {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw BenchFailure("connect \(endpoint): \(reason)")
        }
        return descriptor
    }

    deinit { close(descriptor) }

    /// `METHOD path HTTP/1.1` with `Host`, an optional bearer token, a JSON body, and `Connection: close`
    /// when the connection is for this request only.
    static func request(_ method: String, _ path: String, token: String?, body: String? = nil, close: Bool = false) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if close { text += "Connection: close\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n"
        if let body { text += body }
        return Array(text.utf8)
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw BenchFailure("send: \(String(cString: strerror(errno)))")
            }
            sent += count
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        while true {
            let count = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: scratch[0..<count])
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            throw BenchFailure("recv: \(String(cString: strerror(errno)))")
        }
    }

    private func headerEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4) where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// Reads one whole response (Content-Length or chunked body).
    func readResponse() throws -> HTTPResponse {
        var end = headerEnd()
        while end == nil {
            guard try fill() else { throw BenchFailure("connection closed before a response") }
            end = headerEnd()
        }
        let head = String(decoding: buffer[0..<end!], as: UTF8.self)
        buffer.removeFirst(end! + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw BenchFailure("bad status line: \(head.prefix(80))") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                var lineEnd = crlf(from: 0)
                while lineEnd == nil {
                    guard try fill() else { throw BenchFailure("connection closed inside a chunked body") }
                    lineEnd = crlf(from: 0)
                }
                let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw BenchFailure("bad chunk size '\(sizeText)'") }
                buffer.removeFirst(lineEnd! + 2)
                if size == 0 {
                    // Trailers (none expected) end with an empty line.
                    var trailerEnd = crlf(from: 0)
                    while trailerEnd == nil {
                        guard try fill() else { break }
                        trailerEnd = crlf(from: 0)
                    }
                    if let trailerEnd { buffer.removeFirst(trailerEnd + 2) }
                    break
                }
                while buffer.count < size + 2 { guard try fill() else { throw BenchFailure("connection closed inside a chunk") } }
                body.append(contentsOf: buffer[0..<size])
                buffer.removeFirst(size + 2)
            }
        } else if let lengthText = headers["content-length"], let length = Int(lengthText) {
            while buffer.count < length { guard try fill() else { throw BenchFailure("connection closed inside a body") } }
            body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        }
        let keepAlive = statusLine[0] == "HTTP/1.1" && headers["connection"]?.lowercased() != "close"
        return HTTPResponse(status: status, body: body, keepAlive: keepAlive, headers: headers)
    }

    private func crlf(from start: Int) -> Int? {
        guard buffer.count >= start + 2 else { return nil }
        for index in start...(buffer.count - 2) where buffer[index] == 13 && buffer[index + 1] == 10 { return index }
        return nil
    }

    /// One request and its response.
    func exchange(_ method: String, _ path: String, token: String?, body: String? = nil) throws -> HTTPResponse {
        try send(HTTPConnection.request(method, path, token: token, body: body))
        return try readResponse()
    }
}

/// `--NAME VALUE` or `--NAME=VALUE` on the command line.
func stringOption(_ name: String) -> String? {
    let words = CommandLine.arguments
    for (position, word) in words.enumerated() {
        if word.hasPrefix("--\(name)=") { return String(word.dropFirst(name.count + 3)) }
        if word == "--\(name)", position + 1 < words.count { return words[position + 1] }
    }
    return nil
}

func doubleOption(_ name: String, _ fallback: Double) -> Double { stringOption(name).flatMap(Double.init) ?? fallback }

/// Options whose value is the next word (so that word is not taken for a benchmark name).
let valueOptions: Set<String> = ["--socket", "--url", "--token", "--path", "--rate", "--seconds", "--connections", "--warmup",
                                 "--netns", "--out", "--first-guest", "--policy", "--rule-id", "--tap", "--ipset-size", "--vnets", "--entries",
                                 "--etcd", "--agents", "--changes", "--prefix", "--work", "--watch"]

/// Monotonic time in nanoseconds.
@inline(__always) func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Sleeps until the monotonic clock reads `deadline` (nanoseconds); returns at once if it passed.
@inline(__always) func sleepUntil(_ deadline: UInt64) {
    var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
}
