public import SDNStore
public import SDNDataplane

/// A guest's ports on this node after a hook asked for them (`sdn hook qemu` before QEMU starts,
/// `sdn hook lxc-up` before a container's init): what the daemon made, what is attached, and whether
/// each port's firewall chains are in the kernel.
public struct GuestPortsReport: Codable, Hashable, Sendable {
    public enum Operation: String, Codable, Hashable, Sendable {
        /// KVM: taps made and attached before QEMU opens them.
        case prepare
        /// LXC: the host end of a veth that LXC made, attached before the container's init runs.
        case plug
        /// The guest stopped: our taps are removed, what is left of its veths too.
        case release
    }

    public var node: String
    public var guest: Int
    /// `kvm` or `lxc`.
    public var kind: String
    public var operation: Operation
    /// The applied revision the ports were prepared from.
    public var revision: RevisionNumber?
    public var ports: [GuestPortState]
    public var milliseconds: Double

    public init(node: String, guest: Int, kind: String, operation: Operation, revision: RevisionNumber?, ports: [GuestPortState], milliseconds: Double) {
        self.node = node
        self.guest = guest
        self.kind = kind
        self.operation = operation
        self.revision = revision
        self.ports = ports
        self.milliseconds = milliseconds
    }

    /// Every port the operation concerns is ready to carry traffic (or, for a release, gone).
    public var complete: Bool {
        switch operation {
        case .prepare, .plug: ports.allSatisfy { $0.attached && $0.firewall != .missing }
        case .release: ports.allSatisfy { !$0.present }
        }
    }
}

public struct GuestPortState: Codable, Hashable, Sendable {
    public enum Firewall: String, Codable, Hashable, Sendable {
        /// Its chains are in the applied ruleset.
        case loaded
        /// The NIC (or the firewall as a whole) is declared with the firewall off.
        case off
        /// Declared with a firewall whose chains the kernel does not hold (the apply failed).
        case missing
    }

    /// `tap101i0`, `veth201i0`.
    public var name: String
    /// `net0`.
    public var nic: String
    /// The bridge it belongs on.
    public var bridge: String?
    public var present: Bool
    /// A port of its bridge and up.
    public var attached: Bool
    public var firewall: Firewall
    /// The daemon made it in this request (a KVM tap).
    public var created: Bool
    /// Its packet counters (`sdn guests`; nil when absent or not asked for).
    public var counters: LinkCounters?

    public init(name: String, nic: String, bridge: String?, present: Bool, attached: Bool, firewall: Firewall, created: Bool = false,
                counters: LinkCounters? = nil) {
        self.name = name
        self.nic = nic
        self.bridge = bridge
        self.present = present
        self.attached = attached
        self.firewall = firewall
        self.created = created
        self.counters = counters
    }
}

/// `GET /v1/guests`, `sdn guests`: every guest of the applied revision, and for this node's guests
/// their state and each NIC's port as the kernel holds it.
public struct GuestsReport: Codable, Hashable, Sendable {
    public struct Guest: Codable, Hashable, Sendable {
        public var id: Int
        public var name: String
        public var kind: String
        public var node: String
        /// `running`, `shut off`, … (libvirt's word), `running`/`stopped` inferred from its ports, or
        /// `on <node>` for a guest of another node.
        public var state: String
        /// `libvirt`, `ports` (inferred: a port of it is present), or `other-node`.
        public var stateSource: String
        /// Each NIC's port, with its packet counters when present.
        public var ports: [GuestPortState]

        public init(id: Int, name: String, kind: String, node: String, state: String, stateSource: String, ports: [GuestPortState]) {
            self.id = id
            self.name = name
            self.kind = kind
            self.node = node
            self.state = state
            self.stateSource = stateSource
            self.ports = ports
        }
    }

    public var node: String
    public var revision: RevisionNumber?
    public var guests: [Guest]

    public init(node: String, revision: RevisionNumber?, guests: [Guest]) {
        self.node = node
        self.revision = revision
        self.guests = guests
    }
}
