import Glibc

extension Probe {
    /// Sends one hand-built Ethernet frame carrying a UDP datagram, whatever its source MAC and address.
    static func send(_ options: [String]) -> Int32 {
        let (named, _) = parse(options)
        guard let interface = named["interface"], let sourceMAC = mac(named["src-mac"]), let destinationMAC = mac(named["dst-mac"]),
            let source = named["src-ip"].flatMap({ SocketAddress($0) }), let destination = named["dst-ip"].flatMap({ SocketAddress($0) }),
            source.family == destination.family, let port = named["port"].flatMap({ UInt16($0) })
        else { return usage("send needs --interface, --src-mac, --dst-mac, --src-ip and --dst-ip of one family, --port") }
        let payload = Array((named["payload"] ?? "sdn-probe").utf8)

        var udp = be16(40000) + be16(port) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        var frame = destinationMAC + sourceMAC
        if source.family == AF_INET {
            var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + udp.count)) + [0, 0, 0x40, 0, 64, 17, 0, 0] + source.bytes + destination.bytes
            let headerSum = checksum(header)
            header[10] = UInt8(headerSum >> 8)
            header[11] = UInt8(headerSum & 0xff)
            let pseudo = source.bytes + destination.bytes + [0, 17] + be16(UInt16(udp.count))
            setChecksum(&udp, checksum(pseudo + udp))
            frame += [0x08, 0x00] + header + udp
        } else {
            let header: [UInt8] = [0x60, 0, 0, 0] + be16(UInt16(udp.count)) + [17, 64] + source.bytes + destination.bytes
            let pseudo = source.bytes + destination.bytes + [0, 0] + be16(UInt16(udp.count)) + [0, 0, 0, 17]
            setChecksum(&udp, checksum(pseudo + udp))
            frame += [0x86, 0xdd] + header + udp
        }

        // ETH_P_ALL; <netpacket/packet.h> is not part of Swift's Glibc module, so the address is built
        // as bytes: struct sockaddr_ll { u16 family; be16 protocol; i32 ifindex; u16 hatype; u8 pkttype; u8 halen; u8 addr[8]; }.
        let allProtocols: UInt16 = 0x0003
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(allProtocols.bigEndian))
        guard fd >= 0 else {
            fail("sdn-probe: packet socket: \(errnoName(errno))")
            return 1
        }
        defer { close(fd) }
        let index = if_nametoindex(interface)
        guard index != 0 else {
            fail("sdn-probe: no interface \(interface)")
            return 1
        }
        var link = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { link.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: allProtocols.bigEndian) { link.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(index)) { link.replaceSubrange(4..<8, with: $0) }
        link[11] = 6
        link.replaceSubrange(12..<18, with: destinationMAC)
        let sent = link.withUnsafeBytes { raw in
            sendto(fd, frame, frame.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard sent == frame.count else {
            fail("sdn-probe: sendto: \(errnoName(errno))")
            return 1
        }
        say("sent \(frame.count) bytes")
        return 0
    }

    static func mac(_ text: String?) -> [UInt8]? {
        let parts = (text ?? "").split(separator: ":").compactMap { UInt8($0, radix: 16) }
        return parts.count == 6 ? parts : nil
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// The Internet checksum (RFC 1071) of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// Stores a UDP checksum (0 is sent as 0xffff: zero means "none").
    static func setChecksum(_ udp: inout [UInt8], _ sum: UInt16) {
        let value = sum == 0 ? 0xffff : sum
        udp[6] = UInt8(value >> 8)
        udp[7] = UInt8(value & 0xff)
    }
}

extension Probe {
    /// Sends prebuilt Ethernet frames, one per line of a file as hex, in order, on a packet socket; a
    /// line `pause` waits 300 ms (so the receiver can answer before the next frame of a flow).
    static func sendFrames(_ options: [String]) -> Int32 {
        let (named, _) = parse(options)
        guard let interface = named["interface"], let path = named["file"] else { return usage("send-frames needs --interface and --file") }
        guard let file = fopen(path, "r") else {
            fail("sdn-probe: cannot open \(path): \(errnoName(errno))")
            return 1
        }
        defer { fclose(file) }
        var frames: [[UInt8]?] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!).filter { !$0.isWhitespace }
            if text.isEmpty { continue }
            if text == "pause" {
                frames.append(nil)
                continue
            }
            let digits = Array(text.utf8)
            guard digits.count % 2 == 0, digits.count >= 28 else { return usage("bad frame in \(path): \(text.prefix(40))") }
            var frame: [UInt8] = []
            for index in stride(from: 0, to: digits.count, by: 2) {
                guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
                    return usage("bad hex in \(path): \(text.prefix(40))")
                }
                frame.append(byte)
            }
            frames.append(frame)
        }
        free(line)
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        guard fd >= 0 else {
            fail("sdn-probe: packet socket: \(errnoName(errno))")
            return 1
        }
        defer { close(fd) }
        let index = if_nametoindex(interface)
        guard index != 0 else {
            fail("sdn-probe: no interface \(interface)")
            return 1
        }
        var sent = 0
        for frame in frames {
            guard let frame else {
                usleep(300_000)
                continue
            }
            // struct sockaddr_ll, as in `send`; the destination MAC is the frame's own.
            var link = [UInt8](repeating: 0, count: 20)
            withUnsafeBytes(of: UInt16(AF_PACKET)) { link.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: Int32(index)) { link.replaceSubrange(4..<8, with: $0) }
            link[11] = 6
            link.replaceSubrange(12..<18, with: frame[0..<6])
            let count = link.withUnsafeBytes { raw in
                sendto(fd, frame, frame.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
            guard count == frame.count else {
                fail("sdn-probe: sendto: \(errnoName(errno))")
                return 1
            }
            sent += 1
            // A short gap keeps each frame's trace lines apart in `nft monitor trace`.
            usleep(3_000)
        }
        say("sent \(sent) frames")
        return 0
    }
}
