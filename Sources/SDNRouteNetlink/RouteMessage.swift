import Glibc
import SDNModel
internal import CNLRoute

/// One rtnetlink request under construction: owns a libnl `nl_msg` (freed in `deinit`) and writes the
/// family header and attributes with libnl's `nlmsg_*` / `nla_*` functions.
///
/// A put that does not fit marks the message as overflowed instead of failing at once, so building code
/// stays linear; ``RouteSocket`` refuses to send an overflowed message.
final class RouteMessage {
    private let message: OpaquePointer
    private(set) var overflowed = false

    /// A request of `type` (RTM_*) with `flags` (NLM_F_REQUEST is always added).
    init(type: some BinaryInteger, flags: Int32 = 0) {
        // libnl's default size is one page; requests here are far smaller (a few hundred bytes).
        guard let message = nlmsg_alloc_simple(Int32(type), flags | NLM_F_REQUEST) else {
            fatalError("nlmsg_alloc_simple: out of memory")
        }
        self.message = message
    }

    deinit { nlmsg_free(message) }

    /// The netlink header; valid while this object lives.
    var header: UnsafeMutablePointer<nlmsghdr> { nlmsg_hdr(message) }

    var flags: UInt16 { header.pointee.nlmsg_flags }

    /// Appends a fixed family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`, `ndmsg`, ...).
    func append<Header>(_ value: Header) {
        var value = value
        let status = withUnsafeMutableBytes(of: &value) { bytes in
            nlmsg_append(message, bytes.baseAddress, bytes.count, Int32(NLMSG_ALIGNTO))
        }
        if status < 0 { overflowed = true }
    }

    func put(_ type: some BinaryInteger, bytes: [UInt8]) {
        let status = bytes.withUnsafeBytes { nla_put(message, Int32(type), Int32($0.count), $0.baseAddress) }
        if status < 0 { overflowed = true }
    }

    func put<Value>(_ type: some BinaryInteger, raw value: Value) {
        var value = value
        let status = withUnsafeBytes(of: &value) { nla_put(message, Int32(type), Int32($0.count), $0.baseAddress) }
        if status < 0 { overflowed = true }
    }

    func put(_ type: some BinaryInteger, u8 value: UInt8) {
        if nla_put_u8(message, Int32(type), value) < 0 { overflowed = true }
    }

    func put(_ type: some BinaryInteger, u16 value: UInt16) {
        if nla_put_u16(message, Int32(type), value) < 0 { overflowed = true }
    }

    /// A 16-bit value in network byte order (ports, ethertypes).
    func put(_ type: some BinaryInteger, be16 value: UInt16) {
        if nla_put_u16(message, Int32(type), value.bigEndian) < 0 { overflowed = true }
    }

    func put(_ type: some BinaryInteger, u32 value: UInt32) {
        if nla_put_u32(message, Int32(type), value) < 0 { overflowed = true }
    }

    func put(_ type: some BinaryInteger, bool value: Bool) {
        put(type, u8: value ? 1 : 0)
    }

    func put(_ type: some BinaryInteger, string value: String) {
        if nla_put_string(message, Int32(type), value) < 0 { overflowed = true }
    }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    func put(_ type: some BinaryInteger, address: IPAddress) {
        put(type, bytes: address.networkBytes)
    }

    func put(_ type: some BinaryInteger, mac: MACAddress) {
        put(type, bytes: mac.octets)
    }

    /// A nested attribute (NLA_F_NESTED set, as the kernel's strict parsers want) whose content `body` writes.
    func nest(_ type: some BinaryInteger, _ body: () -> Void) {
        guard let start = nla_nest_start(message, Int32(type) | Int32(NLA_F_NESTED)) else {
            overflowed = true
            return
        }
        body()
        if nla_nest_end(message, start) < 0 { overflowed = true }
    }
}

