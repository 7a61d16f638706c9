import Glibc
import SDNDataplane
import SDNModel
import SDNNetns
internal import CNLRoute
internal import CNLRouteShim

// Each LinkOperation as rtnetlink requests: one request per operation, except where noted (a created
// link's alias, a tap's attributes, changeKind's read of the current settings).

extension LinkConnection {
    func perform(_ operation: LinkOperation) throws(RouteNetlinkError) {
        try withFreshIndicesOnStale { () throws(RouteNetlinkError) in
            switch operation {
            case .createLink(let spec):
                try createLink(spec)
            case .deleteLink(let name):
                try deleteLink(name)
            case .setMTU(let name, let mtu):
                try changeLink(name, "set mtu \(mtu) on \(name)") { $0.put(IFLA_MTU, u32: UInt32(clamping: mtu)) }
            case .setMACAddress(let name, let mac):
                try changeLink(name, "set address \(mac) on \(name)") { $0.put(IFLA_ADDRESS, mac: mac) }
            case .setAlias(let name, let alias):
                try setAlias(name, alias)
            case .changeKind(let name, let kind):
                try changeKind(name, to: kind)
            case .setMaster(let name, let master):
                let masterIndex = try master.map { name throws(RouteNetlinkError) in try index(of: name) } ?? 0
                try changeLink(name, master.map { "set master \($0) on \(name)" } ?? "set nomaster on \(name)") {
                    $0.put(IFLA_MASTER, u32: UInt32(bitPattern: masterIndex))
                }
            case .setUp(let name, let up):
                try changeLink(name, "set \(name) \(up ? "up" : "down")", flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP)) { _ in }
            case .setBridgePort(let name, let settings):
                try setBridgePort(name, settings)
            case .addAddress(let address):
                try changeAddress(address, add: true)
            case .deleteAddress(let address):
                try changeAddress(address, add: false)
            case .addRoute(let route):
                try changeRoute(route, add: true)
            case .deleteRoute(let route):
                try changeRoute(route, add: false)
            case .addFDB(let entry):
                try changeFDB(entry, add: true)
            case .deleteFDB(let entry):
                try changeFDB(entry, add: false)
            case .addBridgeVLAN(let entry):
                try changeBridgeVLAN(entry, add: true)
            case .deleteBridgeVLAN(let entry):
                try changeBridgeVLAN(entry, add: false)
            case .setForwarding(let setting):
                try setForwarding(setting)
            case .setNodeForwarding(let setting):
                // No netlink request writes "all" (RTM_NEWNETCONF is notification only): the sysctl.
                try writeSysctl("/proc/sys/net/\(setting.family)/conf/all/forwarding", value: setting.enabled ? 1 : 0,
                                operation: "set \(setting.family) forwarding \(setting.enabled ? "on" : "off") on all interfaces")
            case .setRouterAdvertisements(let setting):
                try writeSysctl("/proc/sys/net/ipv6/conf/\(setting.interface)/accept_ra", value: setting.acceptRA,
                                operation: "set ipv6 accept_ra \(setting.acceptRA) on \(setting.interface)", interface: setting.interface)
            }
        }
    }

    // MARK: - Links

    func createLink(_ spec: LinkSpec) throws(RouteNetlinkError) {
        let operation = "create link \(spec.name) (\(spec.kind.kernelKind.isEmpty ? "no kind" : spec.kind.kernelKind))"
        if case .tap = spec.kind {
            try createTap(spec, operation: operation)
            return
        }
        let message = RouteMessage(type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO)
        message.append(ifinfomsg())
        message.put(IFLA_IFNAME, string: spec.name)
        if let mtu = spec.mtu { message.put(IFLA_MTU, u32: UInt32(clamping: mtu)) }
        if let mac = spec.macAddress { message.put(IFLA_ADDRESS, mac: mac) }
        // The peer's namespace stays open until the kernel has answered.
        var namespaceDescriptor: Int32 = -1
        defer { if namespaceDescriptor >= 0 { close(namespaceDescriptor) } }

        switch spec.kind {
        case .vlan(let settings):
            message.put(IFLA_LINK, u32: UInt32(bitPattern: try index(of: settings.parent)))
        case .macvlan(let settings):
            message.put(IFLA_LINK, u32: UInt32(bitPattern: try index(of: settings.parent)))
        case .veth(let settings):
            if let peerNamespace = settings.peerNamespace {
                namespaceDescriptor = try openNamespace(peerNamespace, operation: operation)
            }
        default:
            break
        }
        let deviceIndex: Int32? = if case .vxlan(let settings) = spec.kind, let device = settings.device { try index(of: device) } else { nil }

        message.nest(IFLA_LINKINFO) {
            message.put(IFLA_INFO_KIND, string: spec.kind.kernelKind)
            switch spec.kind {
            case .bridge(let settings):
                message.nest(IFLA_INFO_DATA) { Self.putBridge(settings, changedFrom: BridgeLinkSettings(), into: message) }
            case .bond(let settings):
                message.nest(IFLA_INFO_DATA) {
                    message.put(IFLA_BOND_MODE, u8: settings.mode.kernelValue)
                    message.put(IFLA_BOND_MIIMON, u32: UInt32(clamping: settings.miimon))
                    if let rate = settings.lacpRate { message.put(IFLA_BOND_AD_LACP_RATE, u8: rate.kernelValue) }
                    if let policy = settings.transmitHashPolicy { message.put(IFLA_BOND_XMIT_HASH_POLICY, u8: policy.kernelValue) }
                    if let minLinks = settings.minLinks { message.put(IFLA_BOND_MIN_LINKS, u32: UInt32(clamping: minLinks)) }
                }
            case .vlan(let settings):
                message.nest(IFLA_INFO_DATA) {
                    message.put(IFLA_VLAN_ID, u16: UInt16(clamping: settings.id))
                    message.put(IFLA_VLAN_PROTOCOL, be16: settings.proto.ethertype)
                }
            case .vxlan(let settings):
                message.nest(IFLA_INFO_DATA) {
                    message.put(IFLA_VXLAN_ID, u32: UInt32(clamping: settings.vni))
                    if let local = settings.local {
                        message.put(local.family == .ipv4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, address: local)
                    }
                    message.put(IFLA_VXLAN_PORT, be16: settings.port)
                    message.put(IFLA_VXLAN_LEARNING, bool: settings.learning)
                    if let deviceIndex { message.put(IFLA_VXLAN_LINK, u32: UInt32(bitPattern: deviceIndex)) }
                }
            case .veth(let settings):
                message.nest(IFLA_INFO_DATA) {
                    message.nest(VETH_INFO_PEER) {
                        message.append(ifinfomsg())
                        message.put(IFLA_IFNAME, string: settings.peer)
                        // Both ends get the MTU: a veth pair with different MTUs drops large frames.
                        if let mtu = spec.mtu { message.put(IFLA_MTU, u32: UInt32(clamping: mtu)) }
                        if namespaceDescriptor >= 0 { message.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: namespaceDescriptor)) }
                    }
                }
            case .macvlan(let settings):
                message.nest(IFLA_INFO_DATA) { message.put(IFLA_MACVLAN_MODE, u32: settings.mode.kernelValue) }
            case .tap, .other:
                break
            }
        }
        try write(message, operation, hint: { Self.hint(creating: spec.kind, errno: $0) }) { reply in
            self.learn(fromEcho: reply)
        }
        if case .bridge(let settings) = spec.kind, settings.needsVLANSupport {
            try requireBridgeVLANSupport(spec.name, operation: operation)
        }
        // The kernel ignores IFLA_IFALIAS when it creates a link: the alias is a second request.
        if let alias = spec.alias, !alias.isEmpty {
            try setAlias(spec.name, alias)
        }
        if case .bond(let settings) = spec.kind, let primary = settings.primary {
            // A bond's primary must name an existing link; it takes effect once that link is enslaved.
            let primaryIndex = try index(of: primary)
            try changeLink(spec.name, "set primary \(primary) on bond \(spec.name)") { message in
                message.nest(IFLA_LINKINFO) {
                    message.put(IFLA_INFO_KIND, string: "bond")
                    message.nest(IFLA_INFO_DATA) { message.put(IFLA_BOND_PRIMARY, u32: UInt32(bitPattern: primaryIndex)) }
                }
            }
        }
    }

    /// Why creating `kind` failed, in words, when the kernel's own answer is terse.
    static func hint(creating kind: LinkKind, errno: Int32) -> String? {
        guard errno == EOPNOTSUPP else { return nil }
        if case .bridge(let settings) = kind, settings.vlanFiltering { return noBridgeVLANs }
        return "this kernel cannot create `\(kind.kernelKind)` links: its driver is missing"
    }

    static let noBridgeVLANs = "this kernel's bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): no vlan_filtering, vlan_protocol or default_pvid"

    /// A kernel without bridge VLAN filtering accepts a bridge's VLAN protocol and default PVID and ignores
    /// them: read the new bridge back, and take it away again rather than leave one without what was asked.
    private func requireBridgeVLANSupport(_ name: String, operation: String) throws(RouteNetlinkError) {
        guard let created = try getLink(name), case .bridge(_, vlanSupport: false) = created.details else { return }
        try? deleteLink(name)
        throw RouteNetlinkError(operation: operation, errno: EOPNOTSUPP, message: Self.noBridgeVLANs)
    }

    /// A tap through /dev/net/tun (rtnetlink cannot create tun devices), then its attributes over netlink.
    private func createTap(_ spec: LinkSpec, operation: String) throws(RouteNetlinkError) {
        // TUNSETIFF attaches to an existing tap of that name instead of failing: refuse like the kernel would.
        if try getLink(spec.name) != nil {
            throw RouteNetlinkError(operation: operation, errno: EEXIST, kernelText: "a link named \"\(spec.name)\" exists")
        }
        let name = spec.name
        writes.increment()
        let status: Int32
        do {
            // The device is created in the namespace of the thread that issues TUNSETIFF.
            status = try namespace.run { sdn_rtnl_create_tap(name) }
        } catch {
            throw RouteNetlinkError(operation: operation, errno: (error as? NetnsError)?.errno, message: "\(error)")
        }
        if status < 0 {
            throw RouteNetlinkError(operation: operation + " via /dev/net/tun", errno: -status)
        }
        let alias = spec.alias ?? ""
        guard spec.mtu != nil || spec.macAddress != nil || !alias.isEmpty else { return }
        try changeLink(name, "set attributes of tap \(name)") { message in
            if let mtu = spec.mtu { message.put(IFLA_MTU, u32: UInt32(clamping: mtu)) }
            if let mac = spec.macAddress { message.put(IFLA_ADDRESS, mac: mac) }
            if !alias.isEmpty { message.put(IFLA_IFALIAS, string: alias) }
        }
    }

    private func openNamespace(_ name: String, operation: String) throws(RouteNetlinkError) -> Int32 {
        let path: String
        do {
            path = try NetworkNamespace.named(name).path
        } catch {
            throw RouteNetlinkError(operation: operation, errno: (error as? NetnsError)?.errno ?? ENOENT, message: "peer namespace: \(error)")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw RouteNetlinkError(operation: operation + ": open \(path)", errno: errno) }
        return descriptor
    }

    func deleteLink(_ name: String) throws(RouteNetlinkError) {
        let message = RouteMessage(type: RTM_DELLINK)
        message.append(ifinfomsg())
        message.put(IFLA_IFNAME, string: name)
        defer { forget(name) }
        try write(message, "delete link \(name)")
    }

    /// RTM_NEWLINK on an existing link, addressed by name (no index lookup needed).
    func changeLink(
        _ name: String, _ operation: @autoclosure () -> String, flags: UInt32 = 0, change: UInt32 = 0,
        hint: ((Int32) -> String?)? = nil, _ body: (RouteMessage) throws(RouteNetlinkError) -> Void
    ) throws(RouteNetlinkError) {
        let message = RouteMessage(type: RTM_NEWLINK)
        var header = ifinfomsg()
        header.ifi_flags = flags
        header.ifi_change = change
        message.append(header)
        message.put(IFLA_IFNAME, string: name)
        try body(message)
        try write(message, operation(), hint: hint)
    }

    private func setAlias(_ name: String, _ alias: String?) throws(RouteNetlinkError) {
        try changeLink(name, alias.map { "set alias \"\($0)\" on \(name)" } ?? "clear alias of \(name)") { message in
            // An empty IFLA_IFALIAS removes the alias (a lone NUL would leave an empty one behind).
            if let alias, !alias.isEmpty { message.put(IFLA_IFALIAS, string: alias) } else { message.put(IFLA_IFALIAS, bytes: []) }
        }
    }

    // MARK: - Kind settings

    /// Sends the kind settings that differ from what the kernel holds now (many drivers refuse a setting
    /// they cannot change even when its value stays the same, e.g. a VXLAN's port).
    func changeKind(_ name: String, to kind: LinkKind) throws(RouteNetlinkError) {
        let operation = "change \(kind.kernelKind) settings of \(name)"
        guard let current = try getLink(name) else {
            throw RouteNetlinkError(operation: operation, errno: ENODEV, message: "no link named \"\(name)\"")
        }
        guard current.kind == kind.kernelKind else {
            throw RouteNetlinkError(
                operation: operation, errno: EOPNOTSUPP,
                message: "\(name) is a `\(current.kind)` link; a link's kind cannot change in place (recreate it)"
            )
        }
        func refuse(_ what: String) -> RouteNetlinkError {
            RouteNetlinkError(operation: operation, errno: EOPNOTSUPP, message: "the kernel cannot change the \(what) of \(name) in place (recreate it)")
        }
        var put: [(RouteMessage) -> Void] = []
        switch (kind, current.details) {
        case (.bridge(let desired), .bridge(let now, let vlanSupport)):
            if !vlanSupport && desired.needsVLANSupport {
                throw RouteNetlinkError(operation: operation, errno: EOPNOTSUPP, message: Self.noBridgeVLANs)
            }
            if desired != now { put.append { Self.putBridge(desired, changedFrom: now, into: $0) } }
        case (.bond(let desired), .bond(let mode, let miimon, let lacpRate, let hashPolicy, let minLinks, let primaryIndex)):
            if desired.mode != mode { put.append { $0.put(IFLA_BOND_MODE, u8: desired.mode.kernelValue) } }
            if desired.miimon != miimon { put.append { $0.put(IFLA_BOND_MIIMON, u32: UInt32(clamping: desired.miimon)) } }
            if let rate = desired.lacpRate, rate != lacpRate { put.append { $0.put(IFLA_BOND_AD_LACP_RATE, u8: rate.kernelValue) } }
            if let policy = desired.transmitHashPolicy, policy != hashPolicy {
                put.append { $0.put(IFLA_BOND_XMIT_HASH_POLICY, u8: policy.kernelValue) }
            }
            if (desired.minLinks ?? 0) != minLinks { put.append { $0.put(IFLA_BOND_MIN_LINKS, u32: UInt32(clamping: desired.minLinks ?? 0)) } }
            if let primary = desired.primary {
                let primaryWanted = try index(of: primary)
                if primaryWanted != primaryIndex { put.append { $0.put(IFLA_BOND_PRIMARY, u32: UInt32(bitPattern: primaryWanted)) } }
            }
        case (.vlan(let desired), .vlan(let id, let proto)):
            if desired.id != id { throw refuse("VLAN id") }
            if desired.proto != proto { throw refuse("VLAN protocol") }
            if try index(of: desired.parent) != current.linkIndex { throw refuse("parent") }
        case (.vxlan(let desired), .vxlan(let vni, let local, let port, let learning, let deviceIndex)):
            if desired.vni != vni { throw refuse("VNI") }
            if desired.port != port { throw refuse("UDP port") }
            if desired.learning != learning { put.append { $0.put(IFLA_VXLAN_LEARNING, bool: desired.learning) } }
            if let wanted = desired.local, wanted != local {
                put.append { $0.put(wanted.family == .ipv4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, address: wanted) }
            }
            let deviceWanted = try desired.device.map { device throws(RouteNetlinkError) in try index(of: device) }
            if deviceWanted != deviceIndex { put.append { $0.put(IFLA_VXLAN_LINK, u32: UInt32(bitPattern: deviceWanted ?? 0)) } }
        case (.macvlan(let desired), .macvlan(let mode)):
            if try index(of: desired.parent) != current.linkIndex { throw refuse("parent") }
            if desired.mode != mode { put.append { $0.put(IFLA_MACVLAN_MODE, u32: desired.mode.kernelValue) } }
        default:
            // veth, tap, other: nothing the kernel changes in place; another peer means another pair.
            if case .veth(let desired) = kind, desired.peerNamespace == nil, !current.linkInOtherNamespace {
                let peerIndex = try? index(of: desired.peer)
                if peerIndex == nil || peerIndex != current.linkIndex { throw refuse("peer") }
            }
        }
        guard !put.isEmpty else { return }
        try changeLink(name, operation, hint: { $0 == EOPNOTSUPP && kind.isVLANFilteringBridge ? Self.hint(creating: kind, errno: $0) : nil }) { message in
            message.nest(IFLA_LINKINFO) {
                message.put(IFLA_INFO_KIND, string: kind.kernelKind)
                message.nest(IFLA_INFO_DATA) { for body in put { body(message) } }
            }
        }
    }

    /// Bridge settings that differ from `old` (for a new bridge: from the kernel's defaults, so a bridge
    /// without VLAN settings also works on a kernel without VLAN filtering).
    static func putBridge(_ settings: BridgeLinkSettings, changedFrom old: BridgeLinkSettings, into message: RouteMessage) {
        if settings.stp != old.stp { message.put(IFLA_BR_STP_STATE, u32: settings.stp ? 1 : 0) }
        // The protocol and default PVID before filtering is switched on: the kernel applies them in order.
        if settings.vlanProtocol != old.vlanProtocol { message.put(IFLA_BR_VLAN_PROTOCOL, be16: settings.vlanProtocol.ethertype) }
        if settings.defaultPVID != old.defaultPVID { message.put(IFLA_BR_VLAN_DEFAULT_PVID, u16: UInt16(clamping: settings.defaultPVID)) }
        if settings.vlanFiltering != old.vlanFiltering { message.put(IFLA_BR_VLAN_FILTERING, bool: settings.vlanFiltering) }
    }

    // MARK: - Bridge ports

    private func setBridgePort(_ name: String, _ settings: BridgePortSettings) throws(RouteNetlinkError) {
        let message = RouteMessage(type: RTM_SETLINK)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_BRIDGE)
        header.ifi_index = try index(of: name)
        message.append(header)
        // Nested IFLA_PROTINFO (with NLA_F_NESTED) holds IFLA_BRPORT_*; without the flag the kernel reads a
        // port state byte instead.
        message.nest(IFLA_PROTINFO) {
            message.put(IFLA_BRPORT_LEARNING, bool: settings.learning)
            message.put(IFLA_BRPORT_ISOLATED, bool: settings.isolated)
        }
        try write(message, "set bridge port learning \(settings.learning ? "on" : "off") isolated \(settings.isolated ? "on" : "off") on \(name)", hint: { errno in
            errno == EINVAL || errno == EOPNOTSUPP ? "is \(name) a port of a bridge?" : nil
        })
    }

    // MARK: - Addresses and routes

    private func changeAddress(_ address: AddressSpec, add: Bool) throws(RouteNetlinkError) {
        let message = RouteMessage(type: add ? RTM_NEWADDR : RTM_DELADDR, flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0)
        var header = ifaddrmsg()
        header.ifa_family = address.prefix.family.addressFamily
        header.ifa_prefixlen = UInt8(address.prefix.length)
        header.ifa_index = UInt32(bitPattern: try index(of: address.interface))
        message.append(header)
        message.put(IFA_LOCAL, address: address.prefix.address)
        message.put(IFA_ADDRESS, address: address.prefix.address)
        try write(message, "\(add ? "add" : "delete") address \(address.prefix) \(add ? "to" : "from") \(address.interface)")
    }

    private func changeRoute(_ route: RouteSpec, add: Bool) throws(RouteNetlinkError) {
        let message = RouteMessage(type: add ? RTM_NEWROUTE : RTM_DELROUTE, flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0)
        var header = rtmsg()
        header.rtm_family = route.destination.family.addressFamily
        header.rtm_dst_len = UInt8(route.destination.length)
        header.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        header.rtm_protocol = route.protocol
        header.rtm_type = UInt8(RTN_UNICAST)
        if add {
            // Like `ip route add`: a route without a gateway reaches its destination directly on the link.
            header.rtm_scope = UInt8(route.gateway == nil && route.interface != nil ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue)
        } else {
            header.rtm_scope = UInt8(RT_SCOPE_NOWHERE.rawValue)
        }
        message.append(header)
        if route.destination.length > 0 { message.put(RTA_DST.rawValue, address: route.destination.network) }
        if let gateway = route.gateway { message.put(RTA_GATEWAY.rawValue, address: gateway) }
        if let interface = route.interface { message.put(RTA_OIF.rawValue, u32: UInt32(bitPattern: try index(of: interface))) }
        if let metric = route.metric { message.put(RTA_PRIORITY.rawValue, u32: UInt32(clamping: metric)) }
        var text = "\(add ? "add" : "delete") route \(route.destination)"
        if let gateway = route.gateway { text += " via \(gateway)" }
        if let interface = route.interface { text += " dev \(interface)" }
        try write(message, text + " proto \(route.protocol)")
    }

    // MARK: - FDB

    private func changeFDB(_ entry: FDBEntrySpec, add: Bool) throws(RouteNetlinkError) {
        let flags: Int32
        var header = ndmsg()
        header.ndm_family = UInt8(AF_BRIDGE)
        header.ndm_ifindex = try index(of: entry.interface)
        switch entry.kind {
        case .vxlanRemote:
            // `bridge fdb append … self permanent`: several remotes under one MAC (the all-zeros flood entry).
            flags = add ? NLM_F_CREATE | NLM_F_APPEND : 0
            header.ndm_flags = UInt8(NTF_SELF)
            header.ndm_state = UInt16(NUD_NOARP | NUD_PERMANENT)
        case .bridgeStatic:
            // `bridge fdb add … master static`.
            flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0
            header.ndm_flags = UInt8(NTF_MASTER)
            header.ndm_state = UInt16(NUD_NOARP)
        }
        let message = RouteMessage(type: add ? RTM_NEWNEIGH : RTM_DELNEIGH, flags: flags)
        message.append(header)
        message.put(NDA_LLADDR, mac: entry.mac)
        if let destination = entry.destination { message.put(NDA_DST, address: destination) }
        if let vlan = entry.vlan { message.put(NDA_VLAN, u16: UInt16(clamping: vlan)) }
        var text = "\(add ? "add" : "delete") fdb \(entry.mac) dev \(entry.interface)"
        if let destination = entry.destination { text += " dst \(destination)" }
        if let vlan = entry.vlan { text += " vlan \(vlan)" }
        try write(message, text + (entry.kind == .vxlanRemote ? " self" : " master static"))
    }

    // MARK: - Bridge VLANs

    private func changeBridgeVLAN(_ entry: BridgeVLANEntry, add: Bool) throws(RouteNetlinkError) {
        let message = RouteMessage(type: add ? RTM_SETLINK : RTM_DELLINK)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_BRIDGE)
        header.ifi_index = try index(of: entry.interface)
        message.append(header)
        var flags: UInt16 = 0
        if entry.pvid { flags |= UInt16(BRIDGE_VLAN_INFO_PVID) }
        if entry.untagged { flags |= UInt16(BRIDGE_VLAN_INFO_UNTAGGED) }
        message.nest(IFLA_AF_SPEC) {
            message.put(IFLA_BRIDGE_FLAGS, u16: UInt16(entry.onBridgeItself ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER))
            let low = UInt16(clamping: entry.vids.lowerBound), high = UInt16(clamping: entry.vids.upperBound)
            if low == high {
                message.put(IFLA_BRIDGE_VLAN_INFO, raw: bridge_vlan_info(flags: flags, vid: low))
            } else {
                message.put(IFLA_BRIDGE_VLAN_INFO, raw: bridge_vlan_info(flags: flags | UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN), vid: low))
                message.put(IFLA_BRIDGE_VLAN_INFO, raw: bridge_vlan_info(flags: flags | UInt16(BRIDGE_VLAN_INFO_RANGE_END), vid: high))
            }
        }
        let vids = entry.vids.count == 1 ? "\(entry.vids.lowerBound)" : "\(entry.vids.lowerBound)-\(entry.vids.upperBound)"
        var text = "\(add ? "add" : "delete") bridge vlan \(vids) dev \(entry.interface)"
        if entry.pvid { text += " pvid" }
        if entry.untagged { text += " untagged" }
        text += entry.onBridgeItself ? " self" : " master"
        try write(message, text, hint: { errno in
            guard errno == EOPNOTSUPP else { return nil }
            let device = entry.onBridgeItself ? "\(entry.interface) is not a bridge" : "\(entry.interface) is not a bridge port"
            return "\(device) with VLAN filtering on, or the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)"
        })
    }

    // MARK: - Forwarding

    private func setForwarding(_ setting: ForwardingSetting) throws(RouteNetlinkError) {
        let operation = "set \(setting.family) forwarding \(setting.enabled ? "on" : "off") on \(setting.interface)"
        switch setting.family {
        case .ipv4:
            // IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF → one attribute per IPV4_DEVCONF_* id.
            try changeLink(setting.interface, operation) { message in
                message.nest(IFLA_AF_SPEC) {
                    message.nest(AF_INET) {
                        message.nest(IFLA_INET_CONF) { message.put(IPV4_DEVCONF_FORWARDING, u32: setting.enabled ? 1 : 0) }
                    }
                }
            }
        case .ipv6:
            try writeSysctl("/proc/sys/net/ipv6/conf/\(setting.interface)/forwarding", value: setting.enabled ? 1 : 0,
                            operation: operation, interface: setting.interface)
        }
    }
}

extension BridgeLinkSettings {
    /// Settings a kernel without bridge VLAN filtering cannot hold.
    var needsVLANSupport: Bool {
        let defaults = BridgeLinkSettings()
        return vlanFiltering || vlanProtocol != defaults.vlanProtocol || defaultPVID != defaults.defaultPVID
    }
}

extension LinkKind {
    var isVLANFilteringBridge: Bool {
        if case .bridge(let settings) = self { settings.vlanFiltering } else { false }
    }
}
