public import SDNDataplane
import SDNModel

/// How disruptive a change to a live link is.
public enum Disruption: Int, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// Changed on the live link; traffic keeps flowing.
    case inPlace
    /// The kernel only accepts it with the link down: the link flaps.
    case flap
    /// The kernel cannot change it at all: the link is deleted and created again.
    case recreate

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String {
        switch self {
        case .inPlace: "in place"
        case .flap: "flap"
        case .recreate: "recreate"
        }
    }
}

/// A link attribute the planner compares, named as `ip -d link` prints it.
public enum LinkAttribute: String, Hashable, Sendable, CustomStringConvertible {
    case kind, alias, mac, mtu, master, port
    // bridge
    case stp, vlanFiltering = "vlan_filtering", vlanProtocol = "vlan_protocol", defaultPVID = "default_pvid"
    // bond
    case mode, miimon, lacpRate = "lacp_rate", transmitHashPolicy = "xmit_hash_policy", minLinks = "min_links", primary
    // vlan, macvlan
    case parent, id, `protocol`
    // vxlan
    case vni, local, dstport, learning, dev
    // veth
    case peer

    public var description: String { rawValue }
}

/// One attribute that differs between the link the kernel has and the one the topology wants.
public struct AttributeChange: Hashable, Sendable {
    public var attribute: LinkAttribute
    public var from: String
    public var to: String
    public var disruption: Disruption
    /// The write that makes the change (nil for recreate: the new link is created whole).
    public var operation: LinkOperation?
    /// The write that undoes it.
    public var undo: LinkOperation?

    public var summary: String { "\(attribute) \(from) → \(to)" }
}

/// Compares a desired link with the observed one, attribute by attribute, and classifies each
/// difference. Only attributes the topology sets are compared: nil means "whatever the kernel has".
public enum LinkComparison {
    public static func changes(desired link: DesiredLink, observed: LinkSpec) -> [AttributeChange] {
        let want = link.spec
        let name = want.name
        var changes: [AttributeChange] = []
        func describe(_ value: (some CustomStringConvertible)?) -> String { value.map(\.description) ?? "none" }

        if link.ownership == .owned {
            if want.kind.kernelKind != observed.kind.kernelKind {
                changes.append(AttributeChange(attribute: .kind, from: observed.kind.kernelKind, to: want.kind.kernelKind, disruption: .recreate))
            } else if want.kind != observed.kind {
                changes.append(contentsOf: kindChanges(name: name, from: observed.kind, to: want.kind))
            }
            if want.alias != observed.alias {
                changes.append(AttributeChange(attribute: .alias, from: describe(observed.alias), to: describe(want.alias), disruption: .inPlace,
                                               operation: .setAlias(name: name, alias: want.alias), undo: .setAlias(name: name, alias: observed.alias)))
            }
            if let mac = want.macAddress, mac != observed.macAddress {
                changes.append(AttributeChange(attribute: .mac, from: describe(observed.macAddress), to: mac.description, disruption: .flap,
                                               operation: .setMACAddress(name: name, mac: mac), undo: observed.macAddress.map { .setMACAddress(name: name, mac: $0) }))
            }
        }
        if let mtu = want.mtu, mtu != observed.mtu {
            changes.append(AttributeChange(attribute: .mtu, from: describe(observed.mtu), to: "\(mtu)", disruption: .inPlace,
                                           operation: .setMTU(name: name, mtu: mtu), undo: observed.mtu.map { .setMTU(name: name, mtu: $0) }))
        }
        if want.master != observed.master {
            changes.append(AttributeChange(attribute: .master, from: describe(observed.master), to: describe(want.master), disruption: .inPlace,
                                           operation: .setMaster(name: name, master: want.master), undo: .setMaster(name: name, master: observed.master)))
        }
        // A link joining a bridge starts with the kernel's default port settings.
        let currentPort = want.master != observed.master ? BridgePortSettings() : observed.bridgePort
        if let port = want.bridgePort, want.master != nil, port != currentPort {
            changes.append(AttributeChange(attribute: .port, from: describe(currentPort.map(portSummary)), to: portSummary(port), disruption: .inPlace,
                                           operation: .setBridgePort(name: name, settings: port),
                                           undo: observed.bridgePort.map { .setBridgePort(name: name, settings: $0) }))
        }
        return changes
    }

    public static func portSummary(_ port: BridgePortSettings) -> String {
        "learning \(port.learning ? "on" : "off"), isolated \(port.isolated ? "on" : "off")"
    }

    /// Differences within one kind's settings.
    static func kindChanges(name: String, from old: LinkKind, to new: LinkKind) -> [AttributeChange] {
        func change(_ attribute: LinkAttribute, _ from: some CustomStringConvertible, _ to: some CustomStringConvertible, _ disruption: Disruption) -> AttributeChange {
            AttributeChange(attribute: attribute, from: from.description, to: to.description, disruption: disruption,
                            operation: disruption == .recreate ? nil : .changeKind(name: name, kind: new),
                            undo: disruption == .recreate ? nil : .changeKind(name: name, kind: old))
        }
        func text(_ value: (some CustomStringConvertible)?) -> String { value.map(\.description) ?? "default" }
        var changes: [AttributeChange] = []
        switch (old, new) {
        case (.bridge(let a), .bridge(let b)):
            if a.stp != b.stp { changes.append(change(.stp, a.stp, b.stp, .inPlace)) }
            if a.vlanFiltering != b.vlanFiltering { changes.append(change(.vlanFiltering, a.vlanFiltering, b.vlanFiltering, .inPlace)) }
            if a.vlanProtocol != b.vlanProtocol { changes.append(change(.vlanProtocol, a.vlanProtocol.rawValue, b.vlanProtocol.rawValue, .inPlace)) }
            if a.defaultPVID != b.defaultPVID { changes.append(change(.defaultPVID, a.defaultPVID, b.defaultPVID, .inPlace)) }
        case (.bond(let a), .bond(let b)):
            // The bonding driver refuses a mode change while the bond has members or is up.
            if a.mode != b.mode { changes.append(change(.mode, a.mode.rawValue, b.mode.rawValue, .recreate)) }
            if a.miimon != b.miimon { changes.append(change(.miimon, a.miimon, b.miimon, .inPlace)) }
            // Options the topology leaves out keep whatever the kernel has (its defaults).
            if let rate = b.lacpRate, a.lacpRate != rate { changes.append(change(.lacpRate, text(a.lacpRate?.rawValue), rate.rawValue, .flap)) }
            if let policy = b.transmitHashPolicy, a.transmitHashPolicy != policy {
                changes.append(change(.transmitHashPolicy, text(a.transmitHashPolicy?.rawValue), policy.rawValue, .inPlace))
            }
            if let minLinks = b.minLinks, a.minLinks != minLinks { changes.append(change(.minLinks, text(a.minLinks), minLinks, .inPlace)) }
            if let primary = b.primary, a.primary != primary { changes.append(change(.primary, text(a.primary), primary, .inPlace)) }
        case (.vlan(let a), .vlan(let b)):
            if a.parent != b.parent { changes.append(change(.parent, a.parent, b.parent, .recreate)) }
            if a.id != b.id { changes.append(change(.id, a.id, b.id, .recreate)) }
            if a.proto != b.proto { changes.append(change(.protocol, a.proto.rawValue, b.proto.rawValue, .recreate)) }
        case (.vxlan(let a), .vxlan(let b)):
            // The kernel fixes a VXLAN device's identity at creation.
            if a.vni != b.vni { changes.append(change(.vni, a.vni, b.vni, .recreate)) }
            if a.local != b.local { changes.append(change(.local, text(a.local), text(b.local), .recreate)) }
            if a.port != b.port { changes.append(change(.dstport, a.port, b.port, .recreate)) }
            if a.learning != b.learning { changes.append(change(.learning, a.learning, b.learning, .recreate)) }
            if a.device != b.device { changes.append(change(.dev, text(a.device), text(b.device), .recreate)) }
        case (.veth(let a), .veth(let b)):
            // The far end may live in another namespace, where this one cannot see its name.
            if !a.peer.isEmpty && a.peer != b.peer { changes.append(change(.peer, a.peer, b.peer, .recreate)) }
        case (.macvlan(let a), .macvlan(let b)):
            if a.parent != b.parent { changes.append(change(.parent, a.parent, b.parent, .recreate)) }
            if a.mode != b.mode { changes.append(change(.mode, a.mode.rawValue, b.mode.rawValue, .recreate)) }
        default:
            break
        }
        return changes
    }
}
