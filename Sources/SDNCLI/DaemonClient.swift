import Foundation

/// A small HTTP/1.1 client for sdnd's API: one request per connection (`Connection: close`), bodies
/// with Content-Length, responses with Content-Length or chunked, and a streaming read of
/// server-sent events. Blocking and bounded by deadlines: a command does one thing and exits.
struct DaemonClient: Sendable {
    var server: ServerAddress
    /// Sent as `Authorization: Bearer …` (the Unix socket needs none; TCP does), and over https:// only
    /// to a server `trust` accepted.
    var token: String?
    /// Which certificates an https:// server may present.
    var trust: ServerTrust
    /// How long one request may take in all, connection included.
    var timeout: Duration = .seconds(60)

    /// How an event stream ended.
    enum StreamEnd: Sendable {
        /// The handler asked to stop (it had the events it wanted).
        case stopped
        /// The deadline passed.
        case deadlineReached
        /// The daemon closed the stream (it is shutting down).
        case closedByServer
        /// The daemon answered with an error instead of a stream.
        case refused(HTTPResponse)
    }

    init(server: ServerAddress, token: String? = nil, trust: ServerTrust = ServerTrust(), timeout: Duration = .seconds(60)) {
        self.server = server
        self.token = token
        self.trust = trust
        self.timeout = timeout
    }

    /// Sends one request and reads the whole response, whatever its status.
    func send(_ method: String, _ target: String, body: Data? = nil, headers: [(String, String)] = [],
              timeout: Duration? = nil) throws(DaemonClientError) -> HTTPResponse {
        let deadline = ContinuousClock.now + (timeout ?? self.timeout)
        let connection = try DaemonConnector.open(server, trust: trust, deadline: deadline)
        var allHeaders = headers
        if body != nil { allHeaders.append(("Content-Type", "application/json")) }
        var reader = HTTPResponseReader(connection: connection)
        do {
            try connection.write(requestBytes(method, target, body: body, headers: allHeaders + [("Accept", "application/json")]), deadline: deadline)
        } catch .brokenResponse(let server, let reason) {
            // A daemon may answer before reading the whole body (413: too large) and close; its answer says why.
            if let head = try? reader.readHead(deadline: deadline), let body = try? reader.readBody(deadline: deadline) {
                return HTTPResponse(head: head, body: body)
            }
            throw .brokenResponse(server: server, reason: reason)
        }
        let head = try reader.readHead(deadline: deadline)
        return HTTPResponse(head: head, body: try reader.readBody(deadline: deadline))
    }

    /// Sends `body` encoded as JSON.
    func send(_ method: String, _ target: String, json body: some Encodable, headers: [(String, String)] = [],
              timeout: Duration? = nil) throws(DaemonClientError) -> HTTPResponse {
        let data: Data
        do {
            data = try ClientJSON.encoder.encode(body)
        } catch {
            throw .brokenResponse(server: server.description, reason: "cannot encode the request: \(error)")
        }
        return try send(method, target, body: data, headers: headers, timeout: timeout)
    }

    /// Opens an event stream and hands each event to `handler` until it returns false, the deadline
    /// passes (none: until the daemon closes the stream or the process is interrupted), or the daemon
    /// closes the stream.
    func streamEvents(_ target: String, until deadline: ContinuousClock.Instant?,
                      handler: (ServerSentEvent) -> Bool) throws(DaemonClientError) -> StreamEnd {
        // Connecting and the response head are bounded even when the stream is not.
        let setupDeadline = min(ContinuousClock.now + timeout, deadline ?? .now + timeout)
        let connection = try DaemonConnector.open(server, trust: trust, deadline: setupDeadline)
        try connection.write(requestBytes("GET", target, body: nil, headers: [("Accept", "text/event-stream")]), deadline: setupDeadline)
        var reader = HTTPResponseReader(connection: connection)
        let head = try reader.readHead(deadline: setupDeadline)
        guard head.status == 200 else {
            return .refused(HTTPResponse(head: head, body: try reader.readBody(deadline: setupDeadline)))
        }
        var parser = ServerSentEventParser()
        while true {
            let piece: [UInt8]?
            do {
                piece = try reader.nextBodyPiece(deadline: deadline)
            } catch .timedOut where deadline != nil {
                return .deadlineReached
            }
            guard let piece else { return .closedByServer }
            for event in parser.feed(piece) where !handler(event) { return .stopped }
        }
    }

    private func requestBytes(_ method: String, _ target: String, body: Data?, headers: [(String, String)]) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(server.hostHeader)\r\nUser-Agent: sdn/\(SDNVersion.current)\r\nConnection: close\r\n"
        if let token, !token.isEmpty { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" } else if method != "GET" && method != "DELETE" { head += "Content-Length: 0\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (body.map { Array($0) } ?? [])
    }
}

/// The JSON conventions of the API: ISO 8601 dates.
enum ClientJSON {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            // The server's encoder writes whole seconds; accept fractions too.
            if let date = ISO8601DateFormatter().date(from: text) { return date }
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = fractional.date(from: text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return decoder
    }

    /// Any JSON pretty-printed with sorted keys (`--output json`); text that is not JSON comes back as it is.
    static func pretty(_ data: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return String(decoding: data, as: UTF8.self) }
        return String(decoding: pretty, as: UTF8.self)
    }
}
