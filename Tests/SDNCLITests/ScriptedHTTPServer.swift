import Foundation
import Glibc
import Synchronization

/// A tiny HTTP/1.1 server for the client's tests, on a Unix socket or on TCP 127.0.0.1: one thread
/// accepts connections one after the other, reads each request (head and Content-Length body), records
/// it, and lets the test's responder write whatever bytes it wants (Content-Length, chunked, an event
/// stream in pieces, nothing at all) before the connection is closed.
final class ScriptedHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        /// Header names lowercased.
        var headers: [String: String]
        var body: Data
    }

    /// The accepted connection, for the responder to write to.
    struct Connection: Sendable {
        fileprivate let descriptor: Int32

        func send(_ text: String) { send(Array(text.utf8)) }

        func send(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { return }
                offset += sent
            }
        }

        /// Blocks until the client closes its end (for streams the client ends).
        func waitForClientToClose() {
            var byte: UInt8 = 0
            while recv(descriptor, &byte, 1, 0) > 0 {}
        }
    }

    typealias Responder = @Sendable (Request, Connection) -> Void

    /// What a client passes as --server.
    let url: String
    private let listener: Int32
    private let socketPath: String?
    private let recorded = Mutex<[Request]>([])
    private let finished = DispatchSemaphore(value: 0)

    var requests: [Request] { recorded.withLock { $0 } }

    enum Transport { case unix, tcp }

    /// `readsBodies: false` answers after the head, leaving the body unread (a server refusing a body too large).
    private let readsBodies: Bool

    init(_ transport: Transport, readsBodies: Bool = true, responder: @escaping Responder) throws {
        self.readsBodies = readsBodies
        switch transport {
        case .unix:
            let path = FileManager.default.temporaryDirectory.path + "/sdn-client-test-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            listener = descriptor
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            socketPath = path
            url = "unix://" + path
        case .tcp:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            listener = descriptor
            var size = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) == 0 && getsockname(descriptor, $0, &size) == 0 }
            }
            guard bound else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            socketPath = nil
            url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        }
        guard listen(listener, 16) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let thread = Thread { [self] in
            serve(responder)
            finished.signal()
        }
        thread.start()
    }

    /// Stops accepting and waits for the thread to end (a connection being served ends first).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        finished.wait()
        close(listener)
        if let socketPath { unlink(socketPath) }
    }

    private func serve(_ responder: Responder) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            if let request = Self.readRequest(client, body: readsBodies) {
                recorded.withLock { $0.append(request) }
                responder(request, Connection(descriptor: client))
            }
            close(client)
        }
    }

    private static func readRequest(_ descriptor: Int32, body readsBody: Bool) -> Request? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            data += chunk[0..<count]
            if data.count >= 4 {
                headEnd = (0...(data.count - 4)).first { Array(data[$0..<($0 + 4)]) == separator }
            }
        }
        let head = String(decoding: data[0..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(headEnd! + 4)...])
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while readsBody && body.count < length {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            body += chunk[0..<count]
        }
        return Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: Data(body))
    }

    // MARK: Responses

    static func reason(_ status: Int) -> String {
        [200: "OK", 201: "Created", 204: "No Content", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
         412: "Precondition Failed", 422: "Unprocessable Content", 500: "Internal Server Error"][status] ?? "Status"
    }

    /// A response with a Content-Length body.
    static func response(_ status: Int, json body: String, headers: [String] = []) -> String {
        let bytes = Array(body.utf8)
        return "HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n"
            + headers.map { $0 + "\r\n" }.joined() + "\r\n" + body
    }

    /// A chunked response: each piece one chunk, then the last chunk and a trailer.
    static func chunkedResponse(_ status: Int, pieces: [String]) -> String {
        var text = "HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        for (index, piece) in pieces.enumerated() {
            // An extension on one chunk: the client must ignore it.
            text += String(Array(piece.utf8).count, radix: 16) + (index == 1 ? ";name=value" : "") + "\r\n" + piece + "\r\n"
        }
        return text + "0\r\nX-Trailer: done\r\n\r\n"
    }

    /// `{"error":{…}}` with a status.
    static func error(_ status: Int, code: String, message: String) -> String {
        response(status, json: #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#)
    }
}
