import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A whole HTTP/1.1 response.
struct EtcdHTTPResponse: Sendable {
    var head: HTTPResponseHead
    var body: ByteBuffer
}

/// Why a request got no answer.
enum EtcdTransportError: Error, Sendable {
    /// The connection closed (or failed) before the whole response arrived.
    case connectionClosed(String)
    case timedOut
    /// A second request on a connection that still waits for the first's answer (a bug here).
    case busy
}

/// One request and where its answer goes, written to a channel whose pipeline ends in `EtcdHTTPExchangeHandler`.
struct EtcdHTTPExchange: Sendable {
    enum Sink: Sendable {
        case whole(EventLoopPromise<EtcdHTTPResponse>)
        /// A response read as it arrives (a watch): the head, then the body's chunks.
        case streaming(head: EventLoopPromise<HTTPResponseHead>, body: AsyncThrowingStream<ByteBuffer, any Error>.Continuation)

        /// Fails what has not been delivered yet (`headDelivered`: a streamed head was).
        func fail(_ error: any Error, headDelivered: Bool = false) {
            switch self {
            case .whole(let promise):
                promise.fail(error)
            case .streaming(let head, let body):
                if !headDelivered { head.fail(error) }
                body.finish(throwing: error)
            }
        }
    }

    var head: HTTPRequestHead
    var body: ByteBuffer
    var sink: Sink
    /// For whole responses: the connection is closed and the request fails when no answer came by then.
    var timeout: TimeAmount?
}

/// Sends one request at a time on an HTTP/1.1 connection and hands the answer to the request's sink.
/// Runs on the channel's event loop only.
final class EtcdHTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = EtcdHTTPExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var sink: EtcdHTTPExchange.Sink?
    private var responseHead: HTTPResponseHead?
    private var responseBody: ByteBuffer?
    private var timeout: Scheduled<Void>?
    /// The connection closed: a request written now would never be answered, nor failed by a later event.
    private var closed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = Self.unwrapOutboundIn(data)
        guard !closed else {
            // A pooled connection the server closed after it was handed out.
            exchange.sink.fail(EtcdTransportError.connectionClosed("the server closed the connection"))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard sink == nil else {
            exchange.sink.fail(EtcdTransportError.busy)
            promise?.fail(EtcdTransportError.busy)
            return
        }
        sink = exchange.sink
        responseHead = nil
        responseBody = nil
        if let limit = exchange.timeout {
            timeout = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [weak self] in
                self?.finish(failure: EtcdTransportError.timedOut)
                context.close(promise: nil)
            }
        }
        // A write that fails (the connection closed meanwhile) fails the request; nothing else would.
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] error in
            self?.finish(failure: EtcdTransportError.connectionClosed("sending the request failed: \(error)"))
        }
        context.write(Self.wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            responseHead = head
            if case .streaming(let headPromise, _) = sink { headPromise.succeed(head) }
        case .body(var chunk):
            switch sink {
            case .whole:
                if responseBody == nil {
                    responseBody = chunk
                } else {
                    responseBody!.writeBuffer(&chunk)
                }
            case .streaming(_, let body):
                body.yield(chunk)
            case nil:
                break
            }
        case .end:
            timeout?.cancel()
            timeout = nil
            let finished = sink
            sink = nil
            switch finished {
            case .whole(let promise):
                guard let head = responseHead else {
                    promise.fail(EtcdTransportError.connectionClosed("a response without a head"))
                    return
                }
                promise.succeed(EtcdHTTPResponse(head: head, body: responseBody ?? ByteBuffer()))
            case .streaming(let headPromise, let body):
                if responseHead == nil { headPromise.fail(EtcdTransportError.connectionClosed("a response without a head")) }
                body.finish()
            case nil:
                break
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(failure: EtcdTransportError.connectionClosed("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        finish(failure: EtcdTransportError.connectionClosed("the server closed the connection"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed = true
        finish(failure: EtcdTransportError.connectionClosed("the connection was torn down"))
    }

    private func finish(failure: EtcdTransportError) {
        timeout?.cancel()
        timeout = nil
        let pending = sink
        sink = nil
        pending?.fail(failure, headDelivered: responseHead != nil)
    }
}

/// Connections to one etcd member, kept open between requests (keep-alive) so that a request on loopback
/// costs a round trip, not a TCP handshake.
final class EtcdConnectionPool: Sendable {
    let host: String
    let port: Int
    private let group: any EventLoopGroup
    private let connectTimeout: TimeAmount
    private let idle = Mutex<[any Channel]>([])
    /// Idle connections kept; more concurrent requests open more, closed when they finish.
    private let idleLimit = 8

    init(host: String, port: Int, group: any EventLoopGroup, connectTimeout: TimeAmount) {
        self.host = host
        self.port = port
        self.group = group
        self.connectTimeout = connectTimeout
    }

    /// An idle connection that still looks open (`reused`), or a new one. A reused one may have been closed
    /// by the server a moment ago without this process having noticed yet (etcd restarted).
    func acquire() async throws -> (channel: any Channel, reused: Bool) {
        while let channel = idle.withLock({ $0.popLast() }) {
            if channel.isActive { return (channel, true) }
        }
        return (try await connect(), false)
    }

    /// Closes every idle connection: after one turned out dead, the others to the same server are too.
    func discardIdle() {
        shutdown()
    }

    /// Keeps a connection whose exchange completed and which the server did not ask to close.
    func release(_ channel: any Channel, reusable: Bool) {
        let kept = reusable && channel.isActive && idle.withLock { channels in
            guard channels.count < idleLimit else { return false }
            channels.append(channel)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    /// A connection of its own (a watch holds one for as long as it runs).
    func connect() async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(EtcdHTTPExchangeHandler())
                }
            }
            .connect(host: host, port: port)
            .get()
    }

    func shutdown() {
        let channels = idle.withLock { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in channels { channel.close(promise: nil) }
    }
}
