import Glibc

extension Probe {
    /// Listens until killed: TCP connections are accepted and closed, UDP datagrams are printed.
    static func serve(_ options: [String]) -> Int32 {
        let (named, _) = parse(options)
        let tcpPorts = ports(named["tcp"])
        let udpPorts = ports(named["udp"])
        guard !tcpPorts.isEmpty || !udpPorts.isEmpty else { return usage("serve needs --tcp or --udp ports") }
        var descriptors: [(fd: Int32, tcp: Bool)] = []
        for (port, tcp) in tcpPorts.map({ ($0, true) }) + udpPorts.map({ ($0, false) }) {
            let fd = socket(AF_INET6, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
            var off: Int32 = 0
            var on: Int32 = 1
            // One socket per port for both families: an IPv4 peer arrives as ::ffff:a.b.c.d.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            // Any address: undeclared ones too. IP_FREEBIND is not needed, the addresses exist.
            let address = SocketAddress("::", port: port)!
            guard address.withPointer({ bind(fd, $0, $1) }) == 0 else {
                fail("sdn-probe: bind port \(port): \(errnoName(errno))")
                return 1
            }
            if tcp && listen(fd, 128) != 0 {
                fail("sdn-probe: listen port \(port): \(errnoName(errno))")
                return 1
            }
            descriptors.append((fd, tcp))
        }
        say("ready")
        var polled = descriptors.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        while true {
            guard poll(&polled, nfds_t(polled.count), -1) >= 0 else {
                if errno == EINTR { continue }
                return 1
            }
            for (index, entry) in polled.enumerated() where entry.revents & Int16(POLLIN) != 0 {
                var peer = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                if descriptors[index].tcp {
                    let client = withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(entry.fd, $0, &length) }
                    }
                    if client >= 0 { close(client) }
                } else {
                    var buffer = [UInt8](repeating: 0, count: 2048)
                    let count = withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(entry.fd, &buffer, buffer.count, 0, $0, &length) }
                    }
                    if count > 0 {
                        let payload = String(decoding: buffer[0..<count], as: UTF8.self).filter { !$0.isNewline }
                        say("udp \(SocketAddress.text(of: peer)) \(payload)")
                    }
                }
            }
        }
    }
}
