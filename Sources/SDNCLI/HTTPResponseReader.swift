import Foundation

/// A response's status line and headers.
struct HTTPResponseHead: Sendable {
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]

    /// The first header of that name (names compare without case).
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A whole response.
struct HTTPResponse: Sendable {
    var head: HTTPResponseHead
    var body: Data

    var status: Int { head.status }
    func header(_ name: String) -> String? { head.header(name) }
}

/// Reads one HTTP/1.1 response from a connection: the head, then the body piece by piece as it
/// arrives, framed by Content-Length, chunked transfer coding, or the end of the connection.
struct HTTPResponseReader {
    /// The most header bytes accepted; a daemon sends a few hundred.
    static let maximumHeadSize = 64 << 10
    /// The most body bytes `readBody` accepts: well above a configuration's 64 MiB limit in JSON.
    static let maximumBodySize = 512 << 20

    private enum Framing {
        case length(remaining: Int)
        case chunked(remainingInChunk: Int)
        case untilClose
        case finished
    }

    private let connection: any DaemonConnection
    private var buffer: [UInt8] = []
    private var start = 0
    private var framing = Framing.finished
    private var server: String { connection.server.description }

    init(connection: any DaemonConnection) {
        self.connection = connection
    }

    /// Reads the status line and headers, and learns how the body is framed.
    mutating func readHead(deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> HTTPResponseHead {
        var consumed = 0
        guard let statusLine = try line(deadline: deadline, consumed: &consumed) else {
            // sdnd's TLS listeners close on a request in clear: the likely cause of silence on http://.
            let hint = if case .tcp = connection.server.endpoint { " (if sdnd listens there with https://, use https://)" } else { "" }
            throw .brokenResponse(server: server, reason: "the connection closed before a response\(hint)")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status) else {
            throw .brokenResponse(server: server, reason: "not an HTTP/1.1 status line: \(statusLine.prefix(80))")
        }
        var headers: [(name: String, value: String)] = []
        while true {
            guard let line = try line(deadline: deadline, consumed: &consumed) else {
                throw .brokenResponse(server: server, reason: "the connection closed inside the response headers")
            }
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else {
                throw .brokenResponse(server: server, reason: "a header line without ':': \(line.prefix(80))")
            }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let head = HTTPResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
        // Interim responses (100 Continue) carry no body; the real one follows.
        if (100..<200).contains(status) { return try readHead(deadline: deadline) }
        if status == 204 || status == 304 {
            framing = .finished
        } else if let coding = head.header("Transfer-Encoding"), coding.lowercased().contains("chunked") {
            framing = .chunked(remainingInChunk: 0)
        } else if let lengthText = head.header("Content-Length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw .brokenResponse(server: server, reason: "Content-Length '\(lengthText)' is not a length")
            }
            framing = length == 0 ? .finished : .length(remaining: length)
        } else {
            framing = .untilClose
        }
        return head
    }

    /// The next piece of the body as it arrives; nil at its end.
    mutating func nextBodyPiece(deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> [UInt8]? {
        switch framing {
        case .finished:
            return nil
        case .length(let remaining):
            guard try fill(deadline: deadline) else {
                throw .brokenResponse(server: server, reason: "the connection closed \(remaining) bytes before the end of the body")
            }
            let piece = take(min(remaining, buffer.count - start))
            framing = remaining == piece.count ? .finished : .length(remaining: remaining - piece.count)
            return piece
        case .untilClose:
            guard try fill(deadline: deadline) else {
                framing = .finished
                return nil
            }
            return take(buffer.count - start)
        case .chunked(var remaining):
            var consumed = 0
            if remaining == 0 {
                guard let sizeLine = try line(deadline: deadline, consumed: &consumed) else {
                    throw .brokenResponse(server: server, reason: "the connection closed inside a chunked body")
                }
                let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else {
                    throw .brokenResponse(server: server, reason: "a chunk size that is not hexadecimal: \(sizeLine.prefix(40))")
                }
                if size == 0 {
                    // Trailers, if any, then the blank line that ends the message.
                    while let trailer = try line(deadline: deadline, consumed: &consumed), !trailer.isEmpty {}
                    framing = .finished
                    return nil
                }
                remaining = size
            }
            guard try fill(deadline: deadline) else {
                throw .brokenResponse(server: server, reason: "the connection closed inside a chunk")
            }
            let piece = take(min(remaining, buffer.count - start))
            remaining -= piece.count
            if remaining == 0 {
                guard let end = try line(deadline: deadline, consumed: &consumed), end.isEmpty else {
                    throw .brokenResponse(server: server, reason: "a chunk not followed by CRLF")
                }
            }
            framing = .chunked(remainingInChunk: remaining)
            return piece
        }
    }

    /// The whole body (after `readHead`).
    mutating func readBody(deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> Data {
        var body = Data()
        while let piece = try nextBodyPiece(deadline: deadline) {
            body.append(contentsOf: piece)
            if body.count > Self.maximumBodySize {
                throw .brokenResponse(server: server, reason: "the body passes \(Self.maximumBodySize >> 20) MiB")
            }
        }
        return body
    }

    /// Makes at least one unread byte available; false at the end of the stream.
    private mutating func fill(deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> Bool {
        if start < buffer.count { return true }
        buffer.removeAll(keepingCapacity: true)
        start = 0
        let bytes = try connection.read(upTo: 64 << 10, deadline: deadline)
        buffer = bytes
        return !bytes.isEmpty
    }

    private mutating func take(_ count: Int) -> [UInt8] {
        let piece = Array(buffer[start..<(start + count)])
        start += count
        return piece
    }

    /// One line without its CRLF (or bare LF); nil at the end of the stream before any byte of it.
    private mutating func line(deadline: ContinuousClock.Instant?, consumed: inout Int) throws(DaemonClientError) -> String? {
        var bytes: [UInt8] = []
        while true {
            guard try fill(deadline: deadline) else {
                if bytes.isEmpty { return nil }
                throw .brokenResponse(server: server, reason: "the connection closed in the middle of a line")
            }
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                bytes += buffer[start..<newline]
                start = newline + 1
                consumed += bytes.count + 1
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                guard consumed <= Self.maximumHeadSize else {
                    throw .brokenResponse(server: server, reason: "the response head passes \(Self.maximumHeadSize >> 10) KiB")
                }
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes += buffer[start...]
            start = buffer.count
            guard consumed + bytes.count <= Self.maximumHeadSize else {
                throw .brokenResponse(server: server, reason: "the response head passes \(Self.maximumHeadSize >> 10) KiB")
            }
        }
    }
}
