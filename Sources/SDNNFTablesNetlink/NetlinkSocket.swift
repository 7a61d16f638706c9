import Glibc
import SDNNetns
internal import CNFTNL
internal import CNFTNLShim
internal import CNetlinkMessages

/// An nfnetlink socket opened inside a network namespace, owning the libmnl socket (closed in `deinit`).
///
/// Not thread-safe: ``NetlinkFirewall`` confines each socket to one operation at a time.
final class NetlinkSocket {
    private let socket: OpaquePointer
    let descriptor: Int32
    private var nextSequence: UInt32
    private let receiveBuffer: UnsafeMutableRawPointer
    private var receiveBufferLimit = 0

    /// Datagram slot size: dumps arrive in skbs of up to 32 KiB, which a smaller slot would truncate.
    static let slotSize = 65_536
    static let slotCount = 32

    init(namespace: NetworkNamespace) throws(NFTNetlinkError) {
        let descriptor: Int32
        do {
            descriptor = try namespace.openSocket(domain: AF_NETLINK, type: Int32(SOCK_RAW.rawValue), protocol: NETLINK_NETFILTER)
        } catch {
            throw NFTNetlinkError(code: .transport, operation: "open netfilter socket in \(namespace)", message: "\(error)")
        }
        guard let socket = mnl_socket_fdopen(descriptor) else {
            let number = errno
            close(descriptor)
            throw NFTNetlinkError(code: .transport, operation: "mnl_socket_fdopen", message: errorText(number), errno: number)
        }
        self.socket = socket
        self.descriptor = descriptor
        receiveBuffer = UnsafeMutableRawPointer.allocate(byteCount: Self.slotSize * Self.slotCount, alignment: 16)
        nextSequence = UInt32(truncatingIfNeeded: time(nil))
        // A socket opened by us is not bound yet; binding to port 0 lets the kernel pick our port id.
        try withErrno("mnl_socket_bind") { mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) }
        // Extended acks name the offending attribute; capped acks keep the echo of our message out of them,
        // so a big batch's acknowledgements stay small.
        _ = sdn_netlink_set_option(descriptor, NETLINK_EXT_ACK, 1)
        _ = sdn_netlink_set_option(descriptor, NETLINK_CAP_ACK, 1)
    }

    deinit {
        receiveBuffer.deallocate()
        mnl_socket_close(socket)
    }

    /// A fresh sequence number.
    func sequence() -> UInt32 {
        defer { advanceSequences(by: 1) }
        return firstFreeSequence(room: 1)
    }

    /// The next free sequence number, with at least `room` consecutive numbers after it before the
    /// counter wraps (it restarts at 1 instead: 0 is never used).
    func firstFreeSequence(room: Int) -> UInt32 {
        if nextSequence == 0 || UInt64(nextSequence) + UInt64(room) > UInt64(UInt32.max) { nextSequence = 1 }
        return nextSequence
    }

    /// Marks `count` sequence numbers, starting at ``firstFreeSequence(room:)``, as used.
    func advanceSequences(by count: Int) {
        nextSequence &+= UInt32(truncatingIfNeeded: count)
    }

    // MARK: - Buffers

    /// Raises the socket's receive buffer so `expectedMessages` acknowledgements fit while the kernel
    /// processes a batch (they are queued before we can read any). Each ack costs about a kilobyte of
    /// buffer accounting (skb overhead), whatever its 36 bytes of payload.
    func prepareForAcknowledgements(_ expectedMessages: Int) {
        let wanted = min(max(expectedMessages * 1_024, 4 << 20), 1 << 30)
        guard wanted > receiveBufferLimit else { return }
        let actual = sdn_socket_force_buffer(descriptor, true, Int32(wanted))
        if actual > 0 { receiveBufferLimit = Int(actual) / 2 }
    }

    /// Raises the send buffer to fit one batch (netlink refuses a datagram larger than it).
    func prepareToSend(_ bytes: Int) {
        _ = sdn_socket_force_buffer(descriptor, false, Int32(min(bytes + (1 << 20), Int(Int32.max))))
    }

    // MARK: - Sending and receiving

    func send(_ bytes: UnsafeRawBufferPointer) throws(NFTNetlinkError) {
        prepareToSend(bytes.count)
        let sent = try withErrno("sendmsg") { sdn_send_to_kernel(descriptor, bytes.baseAddress, bytes.count) }
        guard sent == bytes.count else {
            throw NFTNetlinkError(code: .transport, operation: "sendmsg", message: "sent \(sent) of \(bytes.count) bytes")
        }
    }

    /// One message received from the kernel.
    struct Message {
        var type: UInt16
        var flags: UInt16
        var sequence: UInt32
        /// For NLMSG_ERROR: 0 (acknowledgement) or -errno, the sequence it answers, extended-ack details.
        var error: Int32
        var errorSequence: UInt32
        var errorOffset: UInt32?
        var errorText: String
        /// Valid only during the callback.
        var header: UnsafePointer<nlmsghdr>
    }

    /// Receives datagrams and hands each message to `handle` until it returns false. Waits up to
    /// `timeout` milliseconds for each batch of datagrams (0: only what is already queued, then stop).
    func receive(timeout milliseconds: Int32, _ handle: (Message) throws(NFTNetlinkError) -> Bool) throws(NFTNetlinkError) {
        var lengths = [Int](repeating: 0, count: Self.slotCount)
        while true {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = try withErrno("poll") { poll(&poller, 1, milliseconds) }
            if ready == 0 {
                if milliseconds == 0 { return }
                throw NFTNetlinkError(code: .transport, operation: "receive", message: "no answer from the kernel within \(milliseconds) ms")
            }
            let count = try withErrno("recvmmsg") {
                lengths.withUnsafeMutableBufferPointer { lengths in
                    sdn_recv_many(descriptor, receiveBuffer, Self.slotSize, UInt32(Self.slotCount), lengths.baseAddress, Int32(MSG_DONTWAIT))
                }
            }
            for slot in 0..<Int(count) {
                var offset = 0
                let start = receiveBuffer + slot * Self.slotSize
                var info = sdn_netlink_message()
                while true {
                    let status = sdn_netlink_next(start, lengths[slot], &offset, &info)
                    if status == 0 { break }
                    if status < 0 { throw .malformed("receive", "truncated netlink message") }
                    let text = withUnsafeBytes(of: &info.error_text) { raw in
                        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    let message = Message(
                        type: info.type, flags: info.flags, sequence: info.seq, error: info.error, errorSequence: info.error_seq,
                        errorOffset: info.has_error_offset ? info.error_offset : nil, errorText: text,
                        header: info.message
                    )
                    if try !handle(message) { return }
                }
            }
        }
    }

    // MARK: - Requests

    /// Sends one request built by `build` (given the buffer and a sequence number; it returns the message
    /// length) and passes every answer with that sequence number to `handle` until the request is
    /// complete: NLMSG_DONE for dumps, the acknowledgement otherwise. An error answer is thrown.
    func request(
        _ operation: String,
        build: (UnsafeMutableRawPointer, UInt32) throws(NFTNetlinkError) -> Int,
        handle: (UnsafePointer<nlmsghdr>) throws(NFTNetlinkError) -> Void
    ) throws(NFTNetlinkError) {
        let buffer = BatchBuffer(capacity: 1 << 16)
        let sequence = sequence()
        let length = try build(buffer.tail, sequence)
        buffer.commit(messageLength: length)
        try send(buffer.bytes)
        var interrupted = false
        try receive(timeout: 30_000) { (message: Message) throws(NFTNetlinkError) -> Bool in
            guard message.sequence == sequence || message.errorSequence == sequence else { return true }
            if message.flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
            switch Int32(message.type) {
            case NLMSG_DONE:
                return false
            case NLMSG_ERROR:
                if message.error != 0 {
                    throw NFTNetlinkError(code: .kernel, operation: operation, message: errorText(-message.error) + (message.errorText.isEmpty ? "" : " (\(message.errorText))"), errno: -message.error)
                }
                return false
            default:
                try handle(message.header)
                return true
            }
        }
        if interrupted {
            throw NFTNetlinkError(code: .transport, operation: operation, message: "dump interrupted by a concurrent change", errno: EINTR)
        }
    }

    /// The ruleset generation id (NFT_MSG_GETGEN).
    func generation() throws(NFTNetlinkError) -> UInt32 {
        var generation: UInt32?
        try request("get generation", build: { buffer, sequence in
            Int(sdn_nft_getgen_request(buffer, sequence))
        }, handle: { header in
            var value: UInt32 = 0
            if sdn_nft_parse_genid(header, &value) == 0 { generation = value }
        })
        guard let generation else { throw .malformed("get generation", "no NFTA_GEN_ID in the answer") }
        return generation
    }
}
