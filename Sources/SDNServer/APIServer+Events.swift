import Foundation
import Hummingbird
import NIOCore
import SDNDaemon
import SDNStore

extension APIServer {
    /// `GET /v1/events`: the daemon's events and the store's new revisions as server-sent events, with a
    /// keepalive comment so proxies and clients see a live connection.
    func eventStream() -> Response {
        var headers: HTTPFields = [:]
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let control = self.control, store = self.store, keepalive = options.keepaliveInterval
        let encoder = APIServer.encoder
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (chunks, continuation) = AsyncStream<String>.makeStream()
            func frame(_ event: DaemonEvent, id: Bool) -> String {
                let data = (try? encoder.encode(event)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
                return (id ? "id: \(event.sequence)\n" : "") + "event: \(event.kind.rawValue)\ndata: \(data)\n\n"
            }
            let tasks = [
                Task {
                    for await event in control.events() { continuation.yield(frame(event, id: true)) }
                },
                Task {
                    // Store changes are not the daemon's events and have no sequence of their own: no `id:`.
                    for await change in store.changes() {
                        if case .revisionCreated(let number) = change {
                            let summary = try? await store.revision(number)?.summary
                            let event = DaemonEvent(kind: .revisionCreated, node: control.nodeName, revision: number,
                                                    message: "revision \(number) by \(summary?.author ?? "?"): \(summary?.message ?? "")")
                            continuation.yield(frame(event, id: false))
                        }
                    }
                },
                Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: keepalive)
                        continuation.yield(": keepalive\n\n")
                    }
                },
            ]
            defer {
                for task in tasks { task.cancel() }
                continuation.finish()
            }
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            for await chunk in chunks {
                try await writer.write(ByteBuffer(string: chunk))
            }
            try await writer.finish(nil)
        })
    }
}
