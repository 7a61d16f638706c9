public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Why etcd did not do what was asked. Each says which member, what happened and whether the request may
/// have taken effect.
public enum EtcdError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No member accepted a connection: nothing was sent.
    case unreachable(endpoints: [String], reason: String)
    /// The request was sent and its answer never came (the connection closed, or the time ran out): it may
    /// or may not have taken effect.
    case noAnswer(endpoint: String, reason: String)
    /// etcd answered with an error: its gRPC status code and message (`etcdserver: request is too large`).
    case rejected(endpoint: String, code: Int, message: String)
    /// An answer this client cannot read (not etcd's JSON gateway, or a version that writes it differently).
    case malformedResponse(endpoint: String, detail: String)
    /// A watch asked for revisions that compaction removed; the oldest revision still kept.
    case compacted(endpoint: String, compactRevision: Int64)
    case invalidEndpoint(String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let endpoints, let reason):
            "etcd is unreachable at \(endpoints.joined(separator: ", ")) (\(reason)); check that etcd runs there "
                + "and that the endpoints name its client URLs (--advertise-client-urls)"
        case .noAnswer(let endpoint, let reason):
            "etcd at \(endpoint) did not answer (\(reason)); the request may or may not have been applied"
        case .rejected(let endpoint, let code, let message):
            "etcd at \(endpoint) refused the request: \(message) (gRPC status \(code))" + Self.hint(message)
        case .malformedResponse(let endpoint, let detail):
            "etcd at \(endpoint) answered something other than etcd v3's JSON gateway writes: \(detail)"
        case .compacted(let endpoint, let compactRevision):
            "etcd at \(endpoint) compacted its history up to revision \(compactRevision)"
        case .invalidEndpoint(let endpoint, let reason):
            "etcd endpoint \(endpoint): \(reason); write it as http://HOST:PORT (etcd's client URL)"
        }
    }

    private static func hint(_ message: String) -> String {
        // The first from etcd's own limit, the second from the gRPC server behind the gateway (2 MiB).
        if message.contains("request is too large") || message.contains("received message larger than max") {
            return "; etcd accepts requests up to 1.5 MiB unless started with a larger --max-request-bytes"
        }
        if ["request timed out", "leader changed", "no leader"].contains(where: message.contains) {
            return "; etcd writes (and consistent reads) need a quorum, more than half of its members up and in touch with each "
                + "other: check the other members"
        }
        if message.contains("database space exceeded") {
            return "; compact and defragment etcd, or raise its --quota-backend-bytes"
        }
        return ""
    }
}

/// A client of etcd's v3 API through its JSON gateway (the gRPC-gateway every etcd ≥ 3.4 serves on its
/// client port): POST /v3/kv/range, /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange, /v3/kv/compaction,
/// /v3/watch (a streamed response), /v3/lease/*.
///
/// Why the JSON gateway and not gRPC: gRPC needs grpc-swift-2, grpc-swift-nio-transport (which brings
/// swift-nio-ssl's BoringSSL and swift-nio-http2 into the build) and swift-protobuf, and code generated
/// from etcd's protos by protoc with two plugins. Committing the generated code avoids building the
/// plugins, but the libraries still add minutes to every clean CI build on two cores, for an API whose
/// every call we need (range, txn, watch, lease) the gateway serves with the same semantics: the same
/// revisions, compares and watch resumption. The gateway costs a JSON encode/decode per call (base64 keys
/// and values) and a connection per watch, which the store's traffic (people editing, nodes reporting)
/// does not notice. The client is SwiftNIO's HTTP/1.1 codec (already built for the HTTP API) with
/// keep-alive connections, so it adds no package. Not supported yet: TLS and etcd's authentication.
///
/// Several endpoints (the members of one cluster) are tried in order when one refuses connections; a
/// request that was sent is never re-sent elsewhere (a write may have been applied).
public final class EtcdClient: Sendable {
    public let endpoints: [String]
    public let requestTimeout: Duration
    private let pools: [EtcdConnectionPool]
    /// The member that answered last, tried first.
    private let preferred = Atomic<Int>(0)
    private let newestRevision = Atomic<Int64>(0)

    /// - Parameter endpoints: etcd's client URLs, `http://127.0.0.1:2379`.
    public init(endpoints: [String], requestTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(3)) throws {
        guard !endpoints.isEmpty else { throw EtcdError.invalidEndpoint("(none)", reason: "no etcd endpoint given") }
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        pools = try endpoints.map { endpoint in
            let (host, port) = try Self.parse(endpoint)
            return EtcdConnectionPool(host: host, port: port, group: MultiThreadedEventLoopGroup.singleton,
                                      connectTimeout: Self.timeAmount(connectTimeout))
        }
    }

    deinit {
        for pool in pools { pool.shutdown() }
    }

    /// The newest etcd revision any answer to this client carried: every change this client made or saw
    /// has a revision at or below it.
    public var newestRevisionSeen: Int64 { newestRevision.load(ordering: .acquiring) }

    /// Records a revision seen elsewhere (a watch event) so that `newestRevisionSeen` covers it.
    public func observe(revision: Int64) {
        _ = newestRevision.max(revision, ordering: .acquiringAndReleasing)
    }

    // MARK: - Key-value

    public func range(_ request: EtcdRangeRequest) async throws -> EtcdRangeResponse {
        let response = try await call("/v3/kv/range", request, as: EtcdRangeResponse.self, idempotent: true)
        observe(revision: response.header.revision)
        return response
    }

    /// One key, or nil when it does not exist.
    public func get(_ key: Data) async throws -> EtcdKeyValue? {
        try await range(EtcdRangeRequest(key: key)).kvs.first
    }

    /// Writes one key; the etcd revision of the write.
    @discardableResult
    public func put(_ request: EtcdPutRequest) async throws -> Int64 {
        let response = try await call("/v3/kv/put", request, as: EtcdPutResponse.self)
        let revision = response.header?.revision ?? 0
        observe(revision: revision)
        return revision
    }

    /// How many keys were deleted.
    @discardableResult
    public func deleteRange(_ request: EtcdDeleteRangeRequest) async throws -> Int64 {
        let response = try await call("/v3/kv/deleterange", request, as: EtcdDeleteRangeResponse.self)
        observe(revision: response.header?.revision ?? 0)
        return response.deleted
    }

    public func txn(_ request: EtcdTxnRequest) async throws -> EtcdTxnResponse {
        // A transaction of reads only (several keys at one revision) is as safe to repeat as a range.
        let readsOnly = (request.success + request.failure).allSatisfy { if case .range = $0 { true } else { false } }
        let response = try await call("/v3/kv/txn", request, as: EtcdTxnResponse.self, idempotent: readsOnly)
        observe(revision: response.header.revision)
        return response
    }

    /// Drops the history before `revision` (what etcd's auto-compaction does); watches from before it fail.
    public func compact(revision: Int64, physical: Bool = true) async throws {
        _ = try await call("/v3/kv/compaction", EtcdCompactionRequest(revision: revision, physical: physical), as: EtcdPutResponse.self)
    }

    // MARK: - Leases

    public func grantLease(ttl seconds: Int64) async throws -> EtcdLease {
        let response = try await call("/v3/lease/grant", EtcdLeaseGrantRequest(ttl: seconds), as: EtcdLeaseResponse.self)
        guard response.error.isEmpty else {
            throw EtcdError.rejected(endpoint: endpoints[preferred.load(ordering: .relaxed)], code: 0, message: response.error)
        }
        return EtcdLease(id: response.id, ttl: response.ttl)
    }

    /// Renews the lease once; its new time to live (0: it had expired, and the keys attached to it are gone).
    public func keepAlive(lease id: Int64) async throws -> Int64 {
        // A stream in gRPC; through the gateway, one request answered by one streamed message.
        let (endpoint, parts) = try await openStream("/v3/lease/keepalive", EtcdLeaseIDRequest(id: id))
        var lines = EtcdJSONLines<EtcdLeaseKeepAliveLine>(parts: parts, endpoint: endpoint).makeAsyncIterator()
        guard let line = try await lines.next() else {
            throw EtcdError.noAnswer(endpoint: endpoint, reason: "the keep-alive stream ended without an answer")
        }
        if let error = line.error { throw EtcdError.rejected(endpoint: endpoint, code: error.code, message: error.message) }
        return line.result?.ttl ?? 0
    }

    public func revokeLease(_ id: Int64) async throws {
        _ = try await call("/v3/lease/revoke", EtcdLeaseIDRequest(id: id), as: EtcdLeaseResponse.self)
    }

    // MARK: - Watch

    /// Watches a key or range. The sequence ends when the connection does (etcd stopped, or the member
    /// went away) and throws `EtcdError.compacted` when the start revision is no longer kept; a caller that
    /// must see everything resumes from the revision after the last event it got.
    public func watch(_ request: EtcdWatchCreateRequest) async throws -> EtcdWatch {
        let (endpoint, parts) = try await openStream("/v3/watch", request)
        return EtcdWatch(lines: EtcdJSONLines(parts: parts, endpoint: endpoint), endpoint: endpoint, client: self)
    }

    // MARK: - Transport

    private func call<Response: Decodable>(_ path: String, _ request: some Encodable, as: Response.Type, idempotent: Bool = false)
        async throws -> Response {
        let body: Data
        do {
            body = try JSONEncoder().encode(request)
        } catch {
            throw EtcdError.malformedResponse(endpoint: endpoints[0], detail: "cannot encode the request: \(error)")
        }
        let deadline = ContinuousClock.now + requestTimeout
        var delay = Duration.milliseconds(50)
        while true {
            // Each try gets what is left of the request's time, so that retries never make it longer.
            let (endpoint, response) = try await exchange(path: path, body: body, idempotent: idempotent, timeout: deadline - ContinuousClock.now)
            let bytes = Data(response.body.readableBytesView)
            if response.head.status == .ok {
                do {
                    return try JSONDecoder().decode(Response.self, from: bytes)
                } catch {
                    throw EtcdError.malformedResponse(endpoint: endpoint, detail: "\(path): \(error)")
                }
            }
            let rejection = Self.rejection(endpoint: endpoint, status: response.head.status, body: bytes)
            // While the members elect a leader (one went away), etcd refuses for a moment what it would do a
            // second later; etcd's own client retries the same way.
            guard Self.isRetriableDuringElection(rejection, idempotent: idempotent), ContinuousClock.now + delay < deadline else { throw rejection }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
    }

    /// A refusal that the same request, sent again a moment later, may not get: any request refused for
    /// want of a leader before it was looked at (`no leader`) or dropped before it entered the log (`raft
    /// proposal dropped`): neither was applied, so sending it again cannot apply it twice; and a read that
    /// lost its leader while it waited (`leader changed`).
    static func isRetriableDuringElection(_ error: EtcdError, idempotent: Bool) -> Bool {
        guard case .rejected(_, _, let message) = error else { return false }
        if message.contains("no leader") || message.contains("raft proposal dropped") { return true }
        return idempotent && message.contains("leader changed")
    }

    /// - Parameter idempotent: sending it twice does no harm (a read). Such a request that fails on a reused
    ///   keep-alive connection is sent once more on a new one: the server may have closed the idle
    ///   connection (etcd restarted) before this process noticed. A write is never re-sent, since it may
    ///   have been applied; its caller gets `noAnswer`.
    private func exchange(path: String, body: Data, idempotent: Bool, timeout: Duration) async throws -> (endpoint: String, response: EtcdHTTPResponse) {
        var (index, pool, channel, reused) = try await connection { try await $0.acquire() }
        while true {
            let promise = channel.eventLoop.makePromise(of: EtcdHTTPResponse.self)
            let exchange = EtcdHTTPExchange(head: Self.head(path: path, pool: pool, length: body.count), body: ByteBuffer(bytes: body),
                                            sink: .whole(promise), timeout: Self.timeAmount(timeout))
            channel.writeAndFlush(exchange, promise: nil)
            do {
                let response = try await withTaskCancellationHandler {
                    try await promise.futureResult.get()
                } onCancel: { [channel] in
                    channel.close(promise: nil)
                }
                pool.release(channel, reusable: response.head.isKeepAlive)
                return (endpoints[index], response)
            } catch {
                channel.close(promise: nil)
                if Task.isCancelled { throw CancellationError() }
                if reused, case EtcdTransportError.connectionClosed = error {
                    pool.discardIdle()
                    if idempotent {
                        (index, pool, channel, reused) = try await connection { (try await $0.connect(), false) }
                        continue
                    }
                }
                // The whole request's time: what is left of it ran out.
                throw EtcdError.noAnswer(endpoint: endpoints[index], reason: Self.describe(error, timeout: requestTimeout))
            }
        }
    }

    /// A request whose answer is streamed (watch, lease keep-alive), on a connection of its own that is
    /// closed when the stream ends or its consumer drops it. The HTTP status is checked before returning.
    private func openStream(_ path: String, _ request: some Encodable) async throws -> (String, AsyncThrowingStream<ByteBuffer, any Error>) {
        let body = try JSONEncoder().encode(request)
        let (index, pool, channel, _) = try await connection { (try await $0.connect(), false) }
        let endpoint = endpoints[index]
        let (chunks, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
        continuation.onTermination = { _ in channel.close(promise: nil) }
        let headPromise = channel.eventLoop.makePromise(of: HTTPResponseHead.self)
        let exchange = EtcdHTTPExchange(head: Self.head(path: path, pool: pool, length: body.count), body: ByteBuffer(bytes: body),
                                        sink: .streaming(head: headPromise, body: continuation), timeout: nil)
        channel.writeAndFlush(exchange, promise: nil)
        let head: HTTPResponseHead
        do {
            head = try await withTaskCancellationHandler {
                try await headPromise.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            if Task.isCancelled { throw CancellationError() }
            throw EtcdError.noAnswer(endpoint: endpoint, reason: Self.describe(error, timeout: requestTimeout))
        }
        guard head.status == .ok else {
            // An error is one short JSON message, after which the gateway ends the response.
            var bytes = Data()
            do {
                for try await chunk in chunks {
                    bytes += Data(chunk.readableBytesView)
                    if bytes.count > 65536 { break }
                }
            } catch {}
            channel.close(promise: nil)
            throw Self.rejection(endpoint: endpoint, status: head.status, body: bytes)
        }
        return (endpoint, chunks)
    }

    /// A connection from the first member that accepts one, starting with the one that answered last.
    private func connection(_ open: (EtcdConnectionPool) async throws -> (channel: any Channel, reused: Bool))
        async throws -> (Int, EtcdConnectionPool, any Channel, Bool) {
        let start = preferred.load(ordering: .relaxed)
        var failures: [String] = []
        for offset in 0..<pools.count {
            let index = (start + offset) % pools.count
            do {
                let opened = try await open(pools[index])
                if offset > 0 { preferred.store(index, ordering: .relaxed) }
                return (index, pools[index], opened.channel, opened.reused)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                failures.append(pools.count > 1 ? "\(endpoints[index]): \(Self.describe(error, timeout: nil))" : Self.describe(error, timeout: nil))
            }
        }
        throw EtcdError.unreachable(endpoints: endpoints, reason: failures.joined(separator: "; "))
    }

    private static func head(path: String, pool: EtcdConnectionPool, length: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(pool.host):\(pool.port)")
        headers.add(name: "Content-Type", value: "application/json")
        // gRPC metadata through the gateway (etcd's WithRequireLeader): a member that has no leader refuses at
        // once with `no leader`, before doing anything, instead of holding a read until the time runs out.
        headers.add(name: "Grpc-Metadata-hasleader", value: "true")
        headers.add(name: "Content-Length", value: String(length))
        return HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
    }

    static func rejection(endpoint: String, status: HTTPResponseStatus, body: Data) -> EtcdError {
        if let error = try? JSONDecoder().decode(EtcdGatewayError.self, from: body), !error.message.isEmpty {
            return .rejected(endpoint: endpoint, code: error.code, message: error.message)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return .malformedResponse(endpoint: endpoint, detail: "HTTP \(status.code) \(status.reasonPhrase): \(text)")
    }

    /// `connection refused`, `timed out after 10 seconds`: what the system said, without NIO's wrapping.
    static func describe(_ error: any Error, timeout: Duration?) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error, timeout: timeout) }
            if let dnsError = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dnsError)" }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case ChannelError.connectTimeout(let amount):
            return "no connection within \(amount.nanoseconds / 1_000_000) ms"
        case EtcdTransportError.timedOut:
            // What makes a member that accepted the connection keep silent: it has lost its quorum.
            return "no answer within \(timeout.map { "\($0)" } ?? "the time allowed"); a member holds requests while it has no quorum "
                + "(more than half of the members up and in touch with each other)"
        case EtcdTransportError.connectionClosed(let reason):
            return reason
        default:
            return "\(error)"
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    static func parse(_ endpoint: String) throws -> (host: String, port: Int) {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme else {
            throw EtcdError.invalidEndpoint(endpoint, reason: "not a URL")
        }
        guard scheme == "http" else {
            throw EtcdError.invalidEndpoint(endpoint, reason: "scheme \(scheme) is not supported (only http; TLS to etcd is not implemented yet)")
        }
        guard let host = components.host, !host.isEmpty else { throw EtcdError.invalidEndpoint(endpoint, reason: "no host") }
        guard components.path.isEmpty || components.path == "/" else {
            throw EtcdError.invalidEndpoint(endpoint, reason: "a path (\(components.path)) is not part of an etcd client URL")
        }
        return (host, components.port ?? 2379)
    }
}

/// A watch's responses, in order. Ends when the connection ends; throws `EtcdError.compacted` when etcd
/// cancels it because the start revision was compacted, and `rejected` for any other cancellation.
public struct EtcdWatch: AsyncSequence, Sendable {
    public typealias Element = EtcdWatchResponse
    let lines: EtcdJSONLines<EtcdWatchStreamLine>
    let endpoint: String
    let client: EtcdClient

    public struct AsyncIterator: AsyncIteratorProtocol {
        var lines: EtcdJSONLines<EtcdWatchStreamLine>.AsyncIterator
        let endpoint: String
        let client: EtcdClient

        public mutating func next() async throws -> EtcdWatchResponse? {
            guard let line = try await lines.next() else { return nil }
            if let error = line.error { throw EtcdError.rejected(endpoint: endpoint, code: error.code, message: error.message) }
            guard let response = line.result else {
                throw EtcdError.malformedResponse(endpoint: endpoint, detail: "a watch message with neither result nor error")
            }
            if response.canceled {
                if response.compactRevision > 0 { throw EtcdError.compacted(endpoint: endpoint, compactRevision: response.compactRevision) }
                throw EtcdError.rejected(endpoint: endpoint, code: 0, message: "the watch was cancelled: \(response.cancelReason)")
            }
            for event in response.events { client.observe(revision: event.keyValue.modRevision) }
            return response
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(lines: lines.makeAsyncIterator(), endpoint: endpoint, client: client)
    }
}

/// The gateway's streamed responses: one JSON message per line.
struct EtcdJSONLines<Line: Decodable>: AsyncSequence, Sendable {
    typealias Element = Line
    let parts: AsyncThrowingStream<ByteBuffer, any Error>
    let endpoint: String

    struct AsyncIterator: AsyncIteratorProtocol {
        var parts: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
        let endpoint: String
        var buffer: [UInt8] = []

        mutating func next() async throws -> Line? {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = buffer[..<newline]
                    defer { buffer.removeSubrange(...newline) }
                    if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                    do {
                        return try JSONDecoder().decode(Line.self, from: Data(line))
                    } catch {
                        throw EtcdError.malformedResponse(endpoint: endpoint, detail: "a streamed message: \(error)")
                    }
                }
                let chunk: ByteBuffer?
                do {
                    chunk = try await parts.next()
                } catch {
                    if Task.isCancelled { throw CancellationError() }
                    throw EtcdError.noAnswer(endpoint: endpoint, reason: EtcdClient.describe(error, timeout: nil))
                }
                guard let chunk else { return nil }
                buffer += chunk.readableBytesView
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(parts: parts.makeAsyncIterator(), endpoint: endpoint)
    }
}
