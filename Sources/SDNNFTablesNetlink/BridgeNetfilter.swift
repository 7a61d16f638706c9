import Glibc
public import SDNNetns

/// The per-namespace `bridge-nf-call-iptables` / `-ip6tables` switches that send bridged IP traffic
/// through the IP hooks (the guest firewall's br_netfilter layout). A /proc write, not netlink: the
/// kernel has no netlink attribute for them. The CLI and the daemon hand it to `NodeReconciler`.
public struct BridgeNetfilter: Sendable {
    public let namespace: NetworkNamespace

    public init(namespace: NetworkNamespace) {
        self.namespace = namespace
    }

    /// Turns both switches on; idempotent.
    public func enable() throws {
        try namespace.run {
            for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
                let path = "/proc/sys/net/bridge/\(key)"
                let fd = open(path, O_WRONLY)
                guard fd >= 0 else { throw BridgeNetfilterError(path: path, errno: errno) }
                defer { close(fd) }
                guard write(fd, "1\n", 2) == 2 else { throw BridgeNetfilterError(path: path, errno: errno) }
            }
        }
    }
}

public struct BridgeNetfilterError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String {
        "cannot enable br_netfilter (\(path): \(String(cString: strerror(errno)))); the guest firewall needs it on this kernel (modprobe br_netfilter)"
    }
}
