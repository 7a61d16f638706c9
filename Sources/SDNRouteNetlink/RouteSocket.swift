import Glibc
import SDNNetns
internal import CNLRoute
internal import CNLRouteShim
internal import CNetlinkMessages

/// An rtnetlink socket opened inside a network namespace (closed in `deinit`).
///
/// Requests are sent one at a time and each waits for its answer: the acknowledgement (with the kernel's
/// extended-ack text on error) or the end of a dump. Not thread-safe: ``NetlinkLinks`` confines it to
/// one operation at a time.
final class RouteSocket {
    let descriptor: Int32
    private var nextSequence: UInt32
    private let buffer: UnsafeMutableRawPointer

    /// One datagram: dumps arrive in skbs of up to 32 KiB (more for huge single messages).
    static let bufferSize = 1 << 18
    /// How long the kernel may take to answer one request.
    static let timeoutSeconds = 30

    /// Opens a NETLINK_ROUTE socket in `namespace`, subscribed to `groups` (RTNLGRP_* numbers).
    init(namespace: NetworkNamespace, groups: [UInt32] = [], receiveBufferBytes: Int32 = 8 << 20) throws(RouteNetlinkError) {
        let descriptor: Int32
        do {
            descriptor = try namespace.openSocket(domain: AF_NETLINK, type: Int32(SOCK_RAW.rawValue), protocol: NETLINK_ROUTE)
        } catch {
            throw RouteNetlinkError(operation: "open rtnetlink socket in \(namespace)", errno: (error as? NetnsError)?.errno, message: "\(error)")
        }
        self.descriptor = descriptor
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
        nextSequence = UInt32(truncatingIfNeeded: time(nil))
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        if bound < 0 {
            let number = errno
            buffer.deallocate()
            close(descriptor)
            throw RouteNetlinkError(operation: "bind rtnetlink socket", errno: number)
        }
        // Extended acks carry the kernel's reason ("Unknown device type"); capped acks leave our request
        // out of the acknowledgement.
        _ = sdn_netlink_set_option(descriptor, NETLINK_EXT_ACK, 1)
        _ = sdn_netlink_set_option(descriptor, NETLINK_CAP_ACK, 1)
        // Strict dump checking makes the kernel honour the filters in dump requests (a route dump asks
        // for our protocol's main-table routes only, instead of every link-local route of every link).
        _ = sdn_netlink_set_option(descriptor, NETLINK_GET_STRICT_CHK, 1)
        var timeout = timeval(tv_sec: Self.timeoutSeconds, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if !groups.isEmpty {
            // Notifications come in bursts (a thousand links created in a second); the kernel drops what
            // does not fit (ENOBUFS). SO_RCVBUFFORCE passes the rmem_max cap when we are root.
            var size = receiveBufferBytes
            if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) < 0 {
                _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        for group in groups {
            let status = sdn_netlink_set_option(descriptor, NETLINK_ADD_MEMBERSHIP, Int32(group))
            if status < 0 {
                buffer.deallocate()
                close(descriptor)
                throw RouteNetlinkError(operation: "subscribe to rtnetlink group \(group)", errno: -status)
            }
        }
    }

    deinit {
        buffer.deallocate()
        close(descriptor)
    }

    private func sequence() -> UInt32 {
        nextSequence &+= 1
        if nextSequence == 0 { nextSequence = 1 }
        return nextSequence
    }

    // MARK: - Requests

    /// Sends `message` with NLM_F_ACK and waits for its acknowledgement. Other answers to it (a get's
    /// reply, the echo of a created link) go to `reply`.
    func request(
        _ message: RouteMessage, operation: @autoclosure () -> String, hint: ((Int32) -> String?)? = nil,
        reply: ((UnsafePointer<nlmsghdr>) -> Void)? = nil
    ) throws(RouteNetlinkError) {
        message.header.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
        let sequence = try send(message, operation: operation())
        var failure: RouteNetlinkError?
        try receive(operation: operation) { answer in
            guard answer.seq == sequence || (answer.type == UInt16(NLMSG_ERROR) && answer.error_seq == sequence) else { return true }
            switch Int32(answer.type) {
            case NLMSG_ERROR:
                if answer.error != 0 {
                    let number = -answer.error
                    failure = RouteNetlinkError(operation: operation(), errno: number, kernelText: Self.text(of: answer), hint: hint?(number))
                }
                return false
            case NLMSG_DONE:
                return false
            default:
                reply?(answer.message!)
                return true
            }
        }
        if let failure { throw failure }
    }

    /// Sends a dump request and passes each message of the answer to `each`.
    ///
    /// - Throws: the kernel's error, or EINTR when the dump was interrupted by a concurrent change
    ///   (NLM_F_DUMP_INTR: the caller should dump again).
    func dump(_ message: RouteMessage, operation: @autoclosure () -> String, each: (UnsafePointer<nlmsghdr>) -> Void) throws(RouteNetlinkError) {
        message.header.pointee.nlmsg_flags |= UInt16(NLM_F_DUMP)
        let sequence = try send(message, operation: operation())
        var failure: RouteNetlinkError?
        var interrupted = false
        try receive(operation: operation) { answer in
            guard answer.seq == sequence else { return true }
            if answer.flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
            switch Int32(answer.type) {
            case NLMSG_ERROR, NLMSG_DONE:
                if answer.error != 0 {
                    failure = RouteNetlinkError(operation: operation(), errno: -answer.error, kernelText: Self.text(of: answer))
                }
                return false
            default:
                each(answer.message!)
                return true
            }
        }
        if let failure { throw failure }
        if interrupted {
            throw RouteNetlinkError(operation: operation(), errno: EINTR, message: "dump interrupted by a concurrent change")
        }
    }

    private func send(_ message: RouteMessage, operation: String) throws(RouteNetlinkError) -> UInt32 {
        guard !message.overflowed else {
            throw RouteNetlinkError(operation: operation, errno: EMSGSIZE, message: "request does not fit in one netlink message")
        }
        let sequence = sequence()
        let header = message.header
        header.pointee.nlmsg_seq = sequence
        header.pointee.nlmsg_pid = 0
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        while true {
            let sent = withUnsafePointer(to: &kernel) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, header, Int(header.pointee.nlmsg_len), 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
            if sent >= 0 { return sequence }
            if errno == EINTR { continue }
            throw RouteNetlinkError(operation: operation, errno: errno)
        }
    }

    // MARK: - Receiving

    /// Receives datagrams and passes each message to `handle` until it returns false.
    private func receive(operation: () -> String, _ handle: (sdn_netlink_message) -> Bool) throws(RouteNetlinkError) {
        while true {
            let length = try receiveDatagram(operation: operation)
            var offset = 0
            var message = sdn_netlink_message()
            while true {
                let status = sdn_netlink_next(buffer, length, &offset, &message)
                if status == 0 { break }
                if status < 0 { throw RouteNetlinkError(operation: operation(), errno: EBADMSG, message: "truncated netlink message from the kernel") }
                if !handle(message) { return }
            }
        }
    }

    /// Waits for one datagram (at most ``timeoutSeconds``, through SO_RCVTIMEO: no extra poll per
    /// request); returns its length.
    private func receiveDatagram(operation: () -> String) throws(RouteNetlinkError) -> Int {
        while true {
            let length = recv(descriptor, buffer, Self.bufferSize, Int32(MSG_TRUNC))
            if length < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw RouteNetlinkError(operation: operation(), errno: ETIMEDOUT, message: "no answer from the kernel within \(Self.timeoutSeconds) s")
                }
                throw RouteNetlinkError(operation: operation(), errno: errno)
            }
            guard length <= Self.bufferSize else {
                throw RouteNetlinkError(operation: operation(), errno: EMSGSIZE, message: "netlink datagram of \(length) bytes exceeds the receive buffer")
            }
            return length
        }
    }

    /// Receives one datagram if one is queued (nil otherwise), without waiting.
    func receiveQueuedDatagram() throws(RouteNetlinkError) -> Int? {
        while true {
            let length = recv(descriptor, buffer, Self.bufferSize, Int32(MSG_TRUNC | MSG_DONTWAIT))
            if length >= 0 { return min(length, Self.bufferSize) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw RouteNetlinkError(operation: "receive link events", errno: errno)
        }
    }

    /// Passes each message of the last datagram received with ``receiveQueuedDatagram()``.
    func forEachMessage(length: Int, _ body: (UnsafePointer<nlmsghdr>, UInt16) -> Void) {
        var offset = 0
        var message = sdn_netlink_message()
        while sdn_netlink_next(buffer, length, &offset, &message) > 0 {
            body(message.message!, message.type)
        }
    }

    private static func text(of message: sdn_netlink_message) -> String {
        var copy = message
        return withUnsafeBytes(of: &copy.error_text) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
