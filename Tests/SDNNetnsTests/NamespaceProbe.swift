import Glibc
import SDNNetns

/// Kernel facts read directly, so tests check namespaces without trusting the code under test.
enum NamespaceProbe {
    /// The namespace inode of the calling thread (`stat /proc/thread-self/ns/net`).
    static func currentThreadInode() -> UInt64 {
        var status = stat()
        precondition(stat("/proc/thread-self/ns/net", &status) == 0, "stat /proc/thread-self/ns/net failed")
        return UInt64(status.st_ino)
    }

    /// `SIOCGIFINDEX` for `name` on `socket`: the index in the socket's namespace, or `nil` if the
    /// interface does not exist there.
    static func interfaceIndex(_ name: String, socket: Int32) -> Int32? {
        var request = interfaceRequest(name)
        guard ioctl(socket, UInt(SIOCGIFINDEX), &request) == 0 else { return nil }
        return request.ifr_ifru.ifru_ivalue
    }

    /// `SIOCGIFFLAGS` for `name` on `socket`.
    static func interfaceFlags(_ name: String, socket: Int32) -> Int16? {
        var request = interfaceRequest(name)
        guard ioctl(socket, UInt(SIOCGIFFLAGS), &request) == 0 else { return nil }
        return request.ifr_ifru.ifru_flags
    }

    private static func interfaceRequest(_ name: String) -> ifreq {
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { $0.copyBytes(from: Array(name.utf8)) }
        return request
    }

    /// Names of `ip netns list`, which prints `NAME` or `NAME (id: N)` per line.
    static func listedNames(_ output: String) -> Set<String> {
        Set(output.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }
}

/// A minimal rtnetlink link dump (`RTM_GETLINK` with `NLM_F_DUMP`), written out by hand so the test
/// depends on no netlink library: enough to show which links a netlink socket sees.
enum RouteNetlinkDump {
    struct Link: Equatable {
        var index: Int32
        var name: String
        var isUp: Bool
    }

    static func links(socket: Int32) throws -> [Link] {
        // struct nlmsghdr (16 bytes) + struct ifinfomsg (16 bytes), little-endian on this host.
        var request = [UInt8](repeating: 0, count: 32)
        store(UInt32(32), at: 0, in: &request)                  // nlmsg_len
        store(UInt16(18), at: 4, in: &request)                  // RTM_GETLINK
        store(UInt16(0x1 | 0x300), at: 6, in: &request)         // NLM_F_REQUEST | NLM_F_DUMP
        store(UInt32(1), at: 8, in: &request)                   // nlmsg_seq
        request[16] = UInt8(AF_UNSPEC)                          // ifi_family
        guard send(socket, request, request.count, 0) == request.count else {
            throw DumpError(message: "send failed: errno \(errno)")
        }

        var links: [Link] = []
        var buffer = [UInt8](repeating: 0, count: 32_768)
        while true {
            let received = recv(socket, &buffer, buffer.count, 0)
            guard received > 0 else { throw DumpError(message: "recv failed: errno \(errno)") }
            var offset = 0
            while offset + 16 <= received {
                let length = Int(load(UInt32.self, at: offset, in: buffer))
                let type = load(UInt16.self, at: offset + 4, in: buffer)
                guard length >= 16, offset + length <= received else { throw DumpError(message: "truncated message") }
                switch type {
                case 3:  // NLMSG_DONE
                    return links
                case 2:  // NLMSG_ERROR
                    throw DumpError(message: "netlink error \(load(Int32.self, at: offset + 16, in: buffer))")
                case 16:  // RTM_NEWLINK
                    links.append(parseLink(buffer, message: offset, length: length))
                default:
                    break
                }
                offset += (length + 3) & ~3
            }
        }
    }

    private static func parseLink(_ buffer: [UInt8], message: Int, length: Int) -> Link {
        let index = load(Int32.self, at: message + 16 + 4, in: buffer)
        let flags = load(UInt32.self, at: message + 16 + 8, in: buffer)
        var name = ""
        var attribute = message + 32
        while attribute + 4 <= message + length {
            let attributeLength = Int(load(UInt16.self, at: attribute, in: buffer))
            let attributeType = load(UInt16.self, at: attribute + 2, in: buffer)
            guard attributeLength >= 4 else { break }
            if attributeType == 3 {  // IFLA_IFNAME, NUL-terminated
                let bytes = buffer[(attribute + 4)..<(attribute + attributeLength)].prefix { $0 != 0 }
                name = String(decoding: bytes, as: UTF8.self)
            }
            attribute += (attributeLength + 3) & ~3
        }
        return Link(index: index, name: name, isUp: flags & UInt32(IFF_UP) != 0)
    }

    private static func store<Value: FixedWidthInteger>(_ value: Value, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + $0.count), with: $0) }
    }

    private static func load<Value: FixedWidthInteger>(_: Value.Type, at offset: Int, in bytes: [UInt8]) -> Value {
        bytes.withUnsafeBytes { Value(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: Value.self)) }
    }

    struct DumpError: Error { var message: String }
}
