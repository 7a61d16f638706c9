import Glibc
import SDNDataplane
import SDNModel
internal import CNLRoute

/// One RTM_NEWLINK message decoded, with other links still referred to by index (names are resolved
/// once the whole dump is known).
struct KernelLink {
    var index: Int32
    var name: String
    var flags: UInt32
    var mtu: Int?
    var masterIndex: Int32?
    var mac: MACAddress?
    var alias: String?
    /// IFLA_INFO_KIND; "" for devices without one (physical NICs, loopback).
    var kind: String
    /// IFLA_LINK: the parent (vlan, macvlan) or the peer (veth).
    var linkIndex: Int32?
    /// IFLA_LINK_NETNSID present: `linkIndex` is in another namespace.
    var linkInOtherNamespace: Bool
    var details: Details
    /// Port settings, when the link is a bridge port (IFLA_INFO_SLAVE_KIND "bridge").
    var bridgePort: BridgePortSettings?
    var ipv4Forwarding: Bool?
    var ipv6Forwarding: Bool?
    /// `net.ipv6.conf.<if>.accept_ra`.
    var ipv6AcceptRA: Int?

    /// Kind settings as the kernel reports them.
    enum Details {
        /// `vlanSupport`: the kernel reports the bridge's VLAN protocol and default PVID (it has bridge VLAN
        /// filtering); without it, it ignores both when they are set.
        case bridge(BridgeLinkSettings, vlanSupport: Bool)
        case bond(mode: Bond.Mode, miimon: Int, lacpRate: Bond.LACPRate?, hashPolicy: Bond.TransmitHashPolicy?, minLinks: Int, primaryIndex: Int32?)
        case vlan(id: Int, proto: VLANProtocol)
        case vxlan(vni: Int, local: IPAddress?, port: UInt16, learning: Bool, deviceIndex: Int32?)
        case macvlan(MacvlanLinkSettings.Mode)
        /// IFLA_TUN_TYPE: IFF_TUN (1) or IFF_TAP (2); nil when not reported.
        case tun(type: UInt8?)
        case none
    }

    var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    var isRunning: Bool { flags & UInt32(IFF_RUNNING) != 0 }

    // MARK: - Decoding

    /// Decodes an RTM_NEWLINK message (family AF_UNSPEC); nil for anything else.
    init?(message: UnsafePointer<nlmsghdr>) {
        guard message.pointee.nlmsg_type == UInt16(RTM_NEWLINK),
              let header = AttributeTable.header(ifinfomsg.self, of: message) else { return nil }
        let attributes = AttributeTable(message: message, headerLength: MemoryLayout<ifinfomsg>.size, maxType: __IFLA_MAX - 1)
        guard let name = attributes.string(IFLA_IFNAME) else { return nil }
        index = header.ifi_index
        self.name = name
        flags = header.ifi_flags
        mtu = attributes.u32(IFLA_MTU).map(Int.init)
        masterIndex = attributes.int32(IFLA_MASTER).flatMap { $0 == 0 ? nil : $0 }
        mac = attributes.mac(IFLA_ADDRESS)
        alias = attributes.string(IFLA_IFALIAS).flatMap { $0.isEmpty ? nil : $0 }
        linkIndex = attributes.int32(IFLA_LINK).flatMap { $0 == 0 ? nil : $0 }
        linkInOtherNamespace = attributes.has(IFLA_LINK_NETNSID)
        kind = ""
        details = .none
        bridgePort = nil

        if let info = attributes.nested(IFLA_LINKINFO, maxType: __IFLA_INFO_MAX - 1) {
            kind = info.string(IFLA_INFO_KIND) ?? ""
            let data = info.nested(IFLA_INFO_DATA, maxType: 256)
            details = Self.details(kind: kind, data: data)
            if info.string(IFLA_INFO_SLAVE_KIND) == "bridge", let port = info.nested(IFLA_INFO_SLAVE_DATA, maxType: __IFLA_BRPORT_MAX - 1) {
                bridgePort = BridgePortSettings(
                    learning: (port.u8(IFLA_BRPORT_LEARNING) ?? 1) != 0,
                    isolated: (port.u8(IFLA_BRPORT_ISOLATED) ?? 0) != 0
                )
            }
        }

        if let families = attributes[IFLA_AF_SPEC] {
            var ipv4: Bool?
            var ipv6: Bool?
            AttributeTable.forEach(in: families) { family, attribute in
                if family == Int(AF_INET) {
                    let inet = AttributeTable(nested: attribute, maxType: __IFLA_INET_MAX - 1)
                    // IFLA_INET_CONF: u32 values, the IPV4_DEVCONF_* id minus one as index.
                    if let conf = inet.bytes(IFLA_INET_CONF) {
                        ipv4 = Self.word(conf, at: Int(IPV4_DEVCONF_FORWARDING) - 1).map { $0 != 0 }
                    }
                } else if family == Int(AF_INET6) {
                    let inet6 = AttributeTable(nested: attribute, maxType: __IFLA_INET6_MAX - 1)
                    // IFLA_INET6_CONF: s32 values indexed by DEVCONF_*.
                    if let conf = inet6.bytes(IFLA_INET6_CONF) {
                        ipv6 = Self.word(conf, at: Int(DEVCONF_FORWARDING)).map { $0 != 0 }
                        ipv6AcceptRA = Self.word(conf, at: Int(DEVCONF_ACCEPT_RA)).map { Int(Int32(bitPattern: $0)) }
                    }
                }
            }
            ipv4Forwarding = ipv4
            ipv6Forwarding = ipv6
        }
    }

    private static func word(_ bytes: [UInt8], at index: Int) -> UInt32? {
        let offset = index * 4
        guard index >= 0, offset + 4 <= bytes.count else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    private static func details(kind: String, data: AttributeTable?) -> Details {
        switch kind {
        case "bridge":
            let defaults = BridgeLinkSettings()
            return .bridge(BridgeLinkSettings(
                stp: (data?.u32(IFLA_BR_STP_STATE) ?? 0) != 0,
                vlanFiltering: (data?.u8(IFLA_BR_VLAN_FILTERING) ?? 0) != 0,
                vlanProtocol: data?.be16(IFLA_BR_VLAN_PROTOCOL).flatMap(VLANProtocol.init(ethertype:)) ?? defaults.vlanProtocol,
                defaultPVID: data?.u16(IFLA_BR_VLAN_DEFAULT_PVID).map(Int.init) ?? defaults.defaultPVID
            ), vlanSupport: data?.has(IFLA_BR_VLAN_PROTOCOL) ?? false)
        case "bond":
            let mode = data?.u8(IFLA_BOND_MODE).flatMap(Bond.Mode.init(kernelValue:)) ?? .balanceRR
            // Settings that mean nothing in the current mode are not reported (nil), like `ip -d` does.
            return .bond(
                mode: mode,
                miimon: Int(data?.u32(IFLA_BOND_MIIMON) ?? 0),
                lacpRate: mode == .lacp ? data?.u8(IFLA_BOND_AD_LACP_RATE).map(Bond.LACPRate.init(kernelValue:)) : nil,
                hashPolicy: mode.usesTransmitHash ? data?.u8(IFLA_BOND_XMIT_HASH_POLICY).flatMap(Bond.TransmitHashPolicy.init(kernelValue:)) : nil,
                minLinks: Int(data?.u32(IFLA_BOND_MIN_LINKS) ?? 0),
                primaryIndex: data?.int32(IFLA_BOND_PRIMARY).flatMap { $0 == 0 ? nil : $0 }
            )
        case "vlan":
            return .vlan(
                id: Int(data?.u16(IFLA_VLAN_ID) ?? 0),
                proto: data?.be16(IFLA_VLAN_PROTOCOL).flatMap(VLANProtocol.init(ethertype:)) ?? .dot1Q
            )
        case "vxlan":
            return .vxlan(
                vni: Int(data?.u32(IFLA_VXLAN_ID) ?? 0),
                local: data?.address(IFLA_VXLAN_LOCAL) ?? data?.address(IFLA_VXLAN_LOCAL6),
                port: data?.be16(IFLA_VXLAN_PORT) ?? 4789,
                learning: (data?.u8(IFLA_VXLAN_LEARNING) ?? 1) != 0,
                deviceIndex: data?.int32(IFLA_VXLAN_LINK).flatMap { $0 == 0 ? nil : $0 }
            )
        case "macvlan":
            return .macvlan(data?.u32(IFLA_MACVLAN_MODE).flatMap(MacvlanLinkSettings.Mode.init(kernelValue:)) ?? .vepa)
        case "tun":
            return .tun(type: data?.u8(IFLA_TUN_TYPE))
        default:
            return .none
        }
    }

    // MARK: - To the model

    /// The kind in the model's terms, with indices resolved through `names` (unknown indices become "").
    func linkKind(names: [Int32: String]) -> LinkKind {
        func name(_ index: Int32?) -> String { index.flatMap { names[$0] } ?? "" }
        switch (kind, details) {
        case ("bridge", .bridge(let settings, _)):
            return .bridge(settings)
        case ("bond", .bond(let mode, let miimon, let lacpRate, let hashPolicy, let minLinks, let primaryIndex)):
            return .bond(BondLinkSettings(
                mode: mode, miimon: miimon, lacpRate: lacpRate, transmitHashPolicy: hashPolicy,
                minLinks: minLinks == 0 ? nil : minLinks, primary: primaryIndex.flatMap { names[$0] }
            ))
        case ("vlan", .vlan(let id, let proto)):
            return .vlan(VLANLinkSettings(parent: linkInOtherNamespace ? "" : name(linkIndex), id: id, proto: proto))
        case ("vxlan", .vxlan(let vni, let local, let port, let learning, let deviceIndex)):
            return .vxlan(VXLANLinkSettings(vni: vni, local: local, port: port, learning: learning, device: deviceIndex.flatMap { names[$0] }))
        case ("veth", _):
            return .veth(VethLinkSettings(peer: linkInOtherNamespace ? "" : name(linkIndex)))
        case ("tun", .tun(let type)):
            // IFF_TUN (1) devices carry IP packets, not frames: not a tap.
            return type == 1 ? .other("tun") : .tap
        case ("macvlan", .macvlan(let mode)):
            return .macvlan(MacvlanLinkSettings(parent: linkInOtherNamespace ? "" : name(linkIndex), mode: mode))
        default:
            return .other(kind)
        }
    }

    func spec(names: [Int32: String]) -> LinkSpec {
        LinkSpec(
            name: name, kind: linkKind(names: names), mtu: mtu, master: masterIndex.flatMap { names[$0] }, up: isUp,
            macAddress: mac, alias: alias, bridgePort: bridgePort
        )
    }
}
