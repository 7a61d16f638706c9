/// One server-sent event (`id:`, `event:`, `data:` lines ended by a blank line).
struct ServerSentEvent: Hashable, Sendable {
    var id: String?
    /// `message` when the server names no type.
    var event: String
    /// The `data:` lines joined with newlines.
    var data: String
}

/// Turns a `text/event-stream` body, fed in pieces as they arrive, into events (the WHATWG rules:
/// comments start with `:`, one space after the colon is dropped, an event without data is not dispatched).
struct ServerSentEventParser {
    private var partialLine: [UInt8] = []
    private var lastID: String?
    private var event: String?
    private var data: [String] = []

    mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                partialLine.append(byte)
                continue
            }
            if partialLine.last == UInt8(ascii: "\r") { partialLine.removeLast() }
            let line = String(decoding: partialLine, as: UTF8.self)
            partialLine.removeAll(keepingCapacity: true)
            if let dispatched = process(line) { events.append(dispatched) }
        }
        return events
    }

    private mutating func process(_ line: String) -> ServerSentEvent? {
        if line.isEmpty {
            defer {
                event = nil
                data = []
            }
            guard !data.isEmpty else { return nil }
            return ServerSentEvent(id: lastID, event: event ?? "message", data: data.joined(separator: "\n"))
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring = ""
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = line[...]
        }
        switch field {
        case "data": data.append(String(value))
        case "event": event = String(value)
        case "id": lastID = String(value)
        default: break  // `retry` and unknown fields: nothing a one-shot client needs.
        }
        return nil
    }
}
