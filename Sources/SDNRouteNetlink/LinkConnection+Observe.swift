import Glibc
import SDNDataplane
import SDNModel
internal import CNLRoute

// Reading the namespace's network: five dumps (links, addresses, routes, FDB, bridge VLANs).

extension LinkConnection {
    /// One consistent reading; a dump interrupted by a concurrent change (EINTR) is read again.
    func observe(_ scope: ObservationScope = .everything) throws(RouteNetlinkError) -> ObservedNetwork {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try observeOnce(scope)
            } catch {
                guard error.errno == EINTR, attempt < 8 else { throw error }
            }
        }
    }

    private func observeOnce(_ scope: ObservationScope) throws(RouteNetlinkError) -> ObservedNetwork {
        let links = try dumpLinks()
        remember(links)
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        let linksByIndex = Dictionary(links.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })

        var network = ObservedNetwork()
        for link in links {
            network.links.append(ObservedLink(spec: link.spec(names: names), index: link.index, operationallyUp: link.isRunning))
            if let enabled = link.ipv4Forwarding { network.forwarding.append(ForwardingSetting(interface: link.name, family: .ipv4, enabled: enabled)) }
            if let enabled = link.ipv6Forwarding { network.forwarding.append(ForwardingSetting(interface: link.name, family: .ipv6, enabled: enabled)) }
            if let acceptRA = link.ipv6AcceptRA { network.routerAdvertisements.append(RouterAdvertisementSetting(interface: link.name, acceptRA: acceptRA)) }
        }
        for family in [IPAddress.Family.ipv4, .ipv6] {
            if let enabled = try nodeForwarding(family) { network.nodeForwarding.append(NodeForwardingSetting(family: family, enabled: enabled)) }
        }
        if scope.nodeWideIPv6 { network.defaultAcceptRA = try readSysctl(Self.defaultAcceptRAPath, operation: "read the IPv6 default accept_ra") }
        network.addresses = try dumpAddresses(names: names).sorted()
        // Sort keys are built once per entry: building them inside the comparator was most of the cost
        // of observing a node with thousands of FDB entries.
        network.routes = try dumpRoutes(names: names).map { ($0.sortKey, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        network.fdb = try dumpFDB(links: linksByIndex).map { ($0.sortKey, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        if scope.bridgeVLANs { network.bridgeVLANs = try dumpBridgeVLANs(links: linksByIndex).sorted { ($0.interface, $0.vids.lowerBound, $0.onBridgeItself ? 1 : 0) < ($1.interface, $1.vids.lowerBound, $1.onBridgeItself ? 1 : 0) } }
        return network
    }

    func dumpLinks() throws(RouteNetlinkError) -> [KernelLink] {
        let message = RouteMessage(type: RTM_GETLINK)
        message.append(ifinfomsg())
        // Counters make every link message ~1 KiB larger and nothing here needs them.
        message.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        var links: [KernelLink] = []
        try socket.dump(message, operation: "dump links") { reply in
            if let link = KernelLink(message: reply) { links.append(link) }
        }
        return links.sorted { $0.index < $1.index }
    }

    /// Every link's IFLA_STATS64, by name.
    func dumpCounters() throws(RouteNetlinkError) -> [String: LinkCounters] {
        let message = RouteMessage(type: RTM_GETLINK)
        message.append(ifinfomsg())
        var counters: [String: LinkCounters] = [:]
        try socket.dump(message, operation: "dump link counters") { reply in
            guard reply.pointee.nlmsg_type == UInt16(RTM_NEWLINK) else { return }
            let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<ifinfomsg>.size, maxType: __IFLA_MAX - 1)
            guard let name = attributes.string(IFLA_IFNAME), let bytes = attributes.bytes(IFLA_STATS64), bytes.count >= 8 * 8 else { return }
            // struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped, …
            func field(_ index: Int) -> UInt64 {
                bytes[(index * 8)..<(index * 8 + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
            counters[name] = LinkCounters(receivedPackets: field(0), sentPackets: field(1), receivedBytes: field(2), sentBytes: field(3),
                                          receiveDropped: field(6), sendDropped: field(7))
        }
        return counters
    }

    // MARK: - Node-wide settings

    static let defaultAcceptRAPath = "/proc/sys/net/ipv6/conf/default/accept_ra"

    /// `net.ipv4.conf.all.forwarding` or `net.ipv6.conf.all.forwarding`, read with RTM_GETNETCONF for the
    /// pseudo-interface "all"; nil when the kernel has no such family (IPv6 disabled).
    private func nodeForwarding(_ family: IPAddress.Family) throws(RouteNetlinkError) -> Bool? {
        let message = RouteMessage(type: RTM_GETNETCONF)
        var header = netconfmsg()
        header.ncm_family = UInt8(family == .ipv4 ? AF_INET : AF_INET6)
        message.append(header)
        message.put(NETCONFA_IFINDEX, raw: Int32(NETCONFA_IFINDEX_ALL))
        var enabled: Bool?
        do throws(RouteNetlinkError) {
            try socket.request(message, operation: "read \(family) node-wide forwarding", reply: { reply in
                guard reply.pointee.nlmsg_type == UInt16(RTM_NEWNETCONF) else { return }
                let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<netconfmsg>.size, maxType: __NETCONFA_MAX - 1)
                enabled = attributes.int32(NETCONFA_FORWARDING).map { $0 != 0 }
            })
        } catch {
            // (Not `catch where`: typed throws with a `where` clause crash the Swift 6.3 compiler.)
            guard error.errno == EAFNOSUPPORT || error.errno == EOPNOTSUPP else { throw error }
            return nil
        }
        return enabled
    }

    // MARK: - Addresses

    private func dumpAddresses(names: [Int32: String]) throws(RouteNetlinkError) -> [AddressSpec] {
        let message = RouteMessage(type: RTM_GETADDR)
        message.append(ifaddrmsg())
        var addresses: [AddressSpec] = []
        try socket.dump(message, operation: "dump addresses") { reply in
            guard reply.pointee.nlmsg_type == UInt16(RTM_NEWADDR),
                  let header = AttributeTable.header(ifaddrmsg.self, of: reply),
                  let interface = names[Int32(bitPattern: header.ifa_index)] else { return }
            let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<ifaddrmsg>.size, maxType: __IFA_MAX - 1)
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links.
            guard let address = attributes.address(IFA_LOCAL) ?? attributes.address(IFA_ADDRESS),
                  Int(header.ifa_prefixlen) <= address.family.bitWidth else { return }
            if Self.isIPv6LinkLocal(address) { return }  // the kernel makes these itself
            addresses.append(AddressSpec(interface: interface, prefix: IPPrefix(address: address, length: Int(header.ifa_prefixlen))))
        }
        return addresses
    }

    static func isIPv6LinkLocal(_ address: IPAddress) -> Bool {
        if case .v6(let value) = address { return value >> 118 == 0x3fa }  // fe80::/10
        return false
    }

    // MARK: - Routes

    private func dumpRoutes(names: [Int32: String]) throws(RouteNetlinkError) -> [RouteSpec] {
        let message = RouteMessage(type: RTM_GETROUTE)
        var request = rtmsg()
        request.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        request.rtm_protocol = RouteSpec.ownProtocol
        request.rtm_type = UInt8(RTN_UNICAST)
        message.append(request)
        var routes: [RouteSpec] = []
        try socket.dump(message, operation: "dump routes") { reply in
            guard reply.pointee.nlmsg_type == UInt16(RTM_NEWROUTE),
                  let header = AttributeTable.header(rtmsg.self, of: reply),
                  header.rtm_family == UInt8(AF_INET) || header.rtm_family == UInt8(AF_INET6) else { return }
            let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<rtmsg>.size, maxType: __RTA_MAX.rawValue - 1)
            let table = attributes.u32(RTA_TABLE.rawValue) ?? UInt32(header.rtm_table)
            // Main-table unicast routes, without the kernel's own connected routes and cache clones.
            guard table == RT_TABLE_MAIN.rawValue, header.rtm_type == UInt8(RTN_UNICAST),
                  header.rtm_protocol != UInt8(RTPROT_KERNEL), header.rtm_flags & UInt32(RTM_F_CLONED) == 0 else { return }
            let family: IPAddress.Family = header.rtm_family == UInt8(AF_INET) ? .ipv4 : .ipv6
            let destination = attributes.address(RTA_DST.rawValue) ?? IPAddress(family: family, integerValue: 0)
            guard destination.family == family, Int(header.rtm_dst_len) <= family.bitWidth else { return }
            routes.append(RouteSpec(
                destination: IPPrefix(address: destination, length: Int(header.rtm_dst_len)),
                gateway: attributes.address(RTA_GATEWAY.rawValue),
                interface: attributes.int32(RTA_OIF.rawValue).flatMap { names[$0] },
                metric: attributes.u32(RTA_PRIORITY.rawValue).map { Int($0) },
                protocol: header.rtm_protocol
            ))
        }
        return routes
    }

    // MARK: - FDB

    private func dumpFDB(links: [Int32: KernelLink]) throws(RouteNetlinkError) -> [FDBEntrySpec] {
        let message = RouteMessage(type: RTM_GETNEIGH)
        var request = ndmsg()
        request.ndm_family = UInt8(AF_BRIDGE)
        message.append(request)
        var entries: [FDBEntrySpec] = []
        try socket.dump(message, operation: "dump fdb") { reply in
            guard reply.pointee.nlmsg_type == UInt16(RTM_NEWNEIGH),
                  let header = AttributeTable.header(ndmsg.self, of: reply),
                  let link = links[header.ndm_ifindex] else { return }
            let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<ndmsg>.size, maxType: __NDA_MAX - 1)
            guard let mac = attributes.mac(NDA_LLADDR) else { return }
            let state = Int32(header.ndm_state)
            let flags = Int32(header.ndm_flags)
            // Learned entries come and go; multicast entries (33:33:…, 01:00:5e:…) are the kernel's own.
            guard state & (NUD_PERMANENT | NUD_NOARP) != 0, flags & NTF_EXT_LEARNED == 0, !mac.isMulticast else { return }
            if flags & NTF_SELF != 0 {
                guard link.kind == "vxlan" else { return }  // other devices' `self` entries are their address lists
                entries.append(FDBEntrySpec(interface: link.name, mac: mac, kind: .vxlanRemote, destination: attributes.address(NDA_DST)))
            } else if flags & NTF_MASTER != 0 || attributes.has(NDA_MASTER) {
                // The bridge's `permanent` entries for its own and its ports' addresses are not state we set.
                let bridge = link.kind == "bridge" ? link : link.masterIndex.flatMap { links[$0] }
                if state & NUD_PERMANENT != 0 && (mac == link.mac || mac == bridge?.mac) { return }
                entries.append(FDBEntrySpec(interface: link.name, mac: mac, kind: .bridgeStatic, vlan: attributes.u16(NDA_VLAN).map(Int.init)))
            }
        }
        return entries
    }

    // MARK: - Bridge VLANs

    private func dumpBridgeVLANs(links: [Int32: KernelLink]) throws(RouteNetlinkError) -> [BridgeVLANEntry] {
        let message = RouteMessage(type: RTM_GETLINK)
        var request = ifinfomsg()
        request.ifi_family = UInt8(AF_BRIDGE)
        message.append(request)
        message.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_BRVLAN_COMPRESSED))
        var entries: [BridgeVLANEntry] = []
        try socket.dump(message, operation: "dump bridge vlans") { reply in
            guard reply.pointee.nlmsg_type == UInt16(RTM_NEWLINK),
                  let header = AttributeTable.header(ifinfomsg.self, of: reply),
                  let link = links[header.ifi_index] else { return }
            let attributes = AttributeTable(message: reply, headerLength: MemoryLayout<ifinfomsg>.size, maxType: __IFLA_MAX - 1)
            guard let spec = attributes[IFLA_AF_SPEC] else { return }
            let itself = link.kind == "bridge"
            var rangeStart: bridge_vlan_info?
            AttributeTable.forEach(in: spec) { type, attribute in
                guard type == Int(IFLA_BRIDGE_VLAN_INFO), Int(nla_len(attribute)) >= MemoryLayout<bridge_vlan_info>.size,
                      let data = nla_data(attribute) else { return }
                let info = data.loadUnaligned(as: bridge_vlan_info.self)
                let flags = Int32(info.flags)
                if flags & BRIDGE_VLAN_INFO_RANGE_BEGIN != 0 {
                    rangeStart = info
                    return
                }
                let low = flags & BRIDGE_VLAN_INFO_RANGE_END != 0 ? (rangeStart?.vid ?? info.vid) : info.vid
                rangeStart = nil
                entries.append(BridgeVLANEntry(
                    interface: link.name, vids: Int(min(low, info.vid))...Int(info.vid),
                    pvid: flags & BRIDGE_VLAN_INFO_PVID != 0, untagged: flags & BRIDGE_VLAN_INFO_UNTAGGED != 0,
                    onBridgeItself: itself
                ))
            }
        }
        return entries
    }
}

extension RouteSpec {
    var sortKey: String {
        "\(destination.family == .ipv4 ? 4 : 6) \(destination) \(metric ?? 0) \(gateway?.description ?? "") \(interface ?? "")"
    }
}

extension FDBEntrySpec {
    var sortKey: String { "\(interface) \(kind.rawValue) \(mac) \(vlan ?? 0) \(destination?.description ?? "")" }
}
