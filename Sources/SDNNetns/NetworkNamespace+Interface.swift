import Glibc

extension NetworkNamespace {
    /// Sets the loopback interface `lo` up in this namespace (`ip link set lo up`, without `ip`).
    ///
    /// A new namespace starts with `lo` down, and much software quietly depends on it: Foundation's
    /// `Process` hangs forever in a namespace whose `lo` is down.
    public func bringLoopbackUp() throws {
        try setInterfaceUp("lo")
    }

    /// Whether interface `name` exists in this namespace and is administratively up (`IFF_UP`).
    ///
    /// - Throws: ``NetnsError`` with `ENODEV` if there is no such interface.
    public func isInterfaceUp(_ name: String) throws -> Bool {
        try withInterfaceSocket { socket in
            let flags = try InterfaceRequest.flags(of: name, socket: socket)
            return flags & Int16(IFF_UP) != 0
        }
    }

    /// Sets `IFF_UP` on interface `name` through `SIOCSIFFLAGS` on a socket inside this namespace.
    func setInterfaceUp(_ name: String) throws {
        try withInterfaceSocket { socket in
            let flags = try InterfaceRequest.flags(of: name, socket: socket)
            try InterfaceRequest.setFlags(flags | Int16(IFF_UP), of: name, socket: socket)
        }
    }

    /// Gives `body` a datagram socket in this namespace: interface ioctls act on the namespace of the
    /// socket they are issued on, not on the thread's.
    private func withInterfaceSocket<T>(_ body: (Int32) throws -> T) throws -> T {
        let socket = try openSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(socket) }
        return try body(socket)
    }
}

/// `struct ifreq` ioctls on an interface name.
enum InterfaceRequest {
    static func flags(of name: String, socket: Int32) throws -> Int16 {
        var request = try make(name)
        try withErrno("ioctl(SIOCGIFFLAGS) \(name)") { ioctl(socket, UInt(SIOCGIFFLAGS), &request) }
        return request.ifr_ifru.ifru_flags
    }

    static func setFlags(_ flags: Int16, of name: String, socket: Int32) throws {
        var request = try make(name)
        request.ifr_ifru.ifru_flags = flags
        try withErrno("ioctl(SIOCSIFFLAGS) \(name)") { ioctl(socket, UInt(SIOCSIFFLAGS), &request) }
    }

    /// An `ifreq` with `ifr_name` set; names must leave room for the terminating NUL (IFNAMSIZ).
    static func make(_ name: String) throws(NetnsError) -> ifreq {
        var request = ifreq()
        let bytes = Array(name.utf8)
        let capacity = MemoryLayout.size(ofValue: request.ifr_ifrn.ifrn_name)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw NetnsError(operation: "ifreq", message: "invalid interface name \"\(name)\"")
        }
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { buffer in
            buffer.copyBytes(from: bytes)
        }
        return request
    }
}
