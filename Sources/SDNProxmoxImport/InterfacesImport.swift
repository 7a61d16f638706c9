import SDNModel

/// Reads a node's `/etc/network/interfaces` (kept as `nodes/<node>/interfaces` in the tree) in
/// ifupdown2's dialect, as Proxmox writes it: `auto`/`allow-hotplug` lines, `iface NAME inet|inet6
/// METHOD` stanzas with indented options (bonds, bridges with `bridge-ports`, `bridge-vlan-aware`,
/// `bridge-vids`, VLAN sub-interfaces, `mtu`, `address`), `source` lines.
enum InterfacesImport {
    /// One interface, merged from its stanzas (an interface may have an `inet` and an `inet6` stanza).
    struct Stanza {
        var name: Substring
        var first: SourceLine
        var options: [(key: Substring, value: Substring, line: SourceLine)] = []
        var methods: [(family: Substring, method: Substring, line: SourceLine)] = []
        var comment: String?
    }

    struct Result {
        var uplinks: [Uplink] = []
        var locations: [String: SourceLocation] = [:]
    }

    static func parse(_ text: String, path: String, node: String, accounting: inout Accounting) -> Result {
        var stanzas: [Stanza] = []
        var current: Int?
        var pendingComment: [String] = []
        for line in SourceLine.lines(of: text, file: path) {
            let text = line.text
            if text.isEmpty {
                accounting.structure(line)
                pendingComment = []
                continue
            }
            if text.hasPrefix("#") {
                accounting.structure(line)
                pendingComment.append(String(text.dropFirst().drop { $0 == " " }))
                continue
            }
            let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            switch words[0] {
            case "auto", "allow-hotplug", "allow-auto":
                // Which links come up at boot: every uplink sdn manages is brought up.
                accounting.mapped(line)
                current = nil
            case "iface":
                guard words.count >= 4 else {
                    accounting.error(.pveSyntax, "an iface stanza is 'iface NAME inet|inet6 METHOD'", at: line.location)
                    current = nil
                    continue
                }
                let name = words[1]
                if let index = stanzas.firstIndex(where: { $0.name == name }) {
                    current = index
                } else {
                    stanzas.append(Stanza(name: name, first: line, comment: pendingComment.isEmpty ? nil : pendingComment.joined(separator: " ")))
                    current = stanzas.count - 1
                }
                stanzas[current!].methods.append((words[2], words[3], line))
                pendingComment = []
            case "source", "source-directory":
                accounting.changed(line, meaning: "read more interface definitions from \(words.dropFirst().joined(separator: " "))",
                                   action: "not followed", reason: "Proxmox SDN's generated /etc/network/interfaces.d/sdn comes from sdn/*.cfg, which is imported; copy other included files into this one to import them")
                current = nil
            case "mapping":
                accounting.dropped(line, meaning: "an ifupdown mapping stanza", reason: "sdn names its uplinks directly")
                current = nil
            default:
                guard let current else {
                    accounting.error(.pveSyntax, "'\(words[0])' outside an iface stanza", at: line.location)
                    continue
                }
                let value = text.dropFirst(words[0].count).drop { $0 == " " || $0 == "\t" }
                stanzas[current].options.append((words[0], value, line))
            }
        }

        var result = Result()
        var referenced: [String: SourceLine] = [:]
        for stanza in stanzas {
            if let uplink = uplink(from: stanza, node: node, referenced: &referenced, accounting: &accounting) {
                result.uplinks.append(uplink)
                result.locations[uplink.name.rawValue] = stanza.first.location
            }
        }
        // Bond members and bridge ports without a stanza of their own are physical NICs.
        let declared = Set(result.uplinks.map(\.name.rawValue))
        for (name, line) in referenced.sorted(by: { $0.key < $1.key }) where !declared.contains(name) {
            if let interface = try? InterfaceName(name) {
                result.uplinks.append(Uplink(name: interface, kind: .physical(mac: nil)))
                result.locations[name] = line.location
            }
        }
        result.uplinks.sort { $0.name < $1.name }
        return result
    }

    private static func uplink(from stanza: Stanza, node: String, referenced: inout [String: SourceLine], accounting: inout Accounting) -> Uplink? {
        let name = String(stanza.name)
        if name == "lo" {
            for (_, _, line) in stanza.options { accounting.leftToHost(line, meaning: "loopback setting", reason: "the loopback interface is not an uplink") }
            for method in stanza.methods { accounting.leftToHost(method.line, meaning: "the loopback interface", reason: "the loopback interface is not an uplink") }
            return nil
        }
        guard let interface = try? InterfaceName(name) else {
            accounting.error(.pveInvalidInterface, "'\(name)' is not a valid interface name", at: stanza.first.location(of: stanza.name))
            return nil
        }
        if stanza.options.contains(where: { $0.key.hasPrefix("ovs_") }) {
            for line in stanza.methods.map(\.line) + stanza.options.map(\.line) {
                accounting.dropped(line, meaning: "Open vSwitch interface \(name)", reason: "sdn builds Linux bridges, bonds and VLANs, not Open vSwitch")
            }
            return nil
        }
        var addresses: [IPPrefix] = []
        var mtu: MTU?
        var bond = Bond(mode: .balanceRR, members: [])
        var isBond = false
        var bridge = Bridge()
        var isBridge = false
        var vlanParent: InterfaceName?
        var vlanID: VLANID?
        var vlanProtocol = VLANProtocol.dot1Q
        var lastAddress: (index: Int, line: SourceLine)?
        var stp = false
        var forwardDelayLine: SourceLine?

        for method in stanza.methods {
            switch method.method {
            case "manual", "static", "loopback":
                accounting.mapped(method.line)
            case "dhcp", "auto":
                accounting.leftToHost(method.line, meaning: "\(name) takes its \(method.family == "inet6" ? "IPv6" : "IPv4") address by \(method.method)", reason: "sdn declares static addresses only; the host's DHCP client keeps doing it")
            default:
                accounting.error(.pveSyntax, "'\(method.method)' is not an address method (manual, static, dhcp)", at: method.line.location(of: method.method))
            }
        }
        func invalid(_ option: (key: Substring, value: Substring, line: SourceLine), _ expected: String) {
            accounting.error(.pveInvalidValue, "'\(option.value)' is not valid for \(option.key); expected \(expected)", at: option.line.location(of: option.value))
        }
        func names(_ value: Substring, _ line: SourceLine) -> [InterfaceName] {
            if value == "none" { return [] }
            return value.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { word in
                referenced[String(word)] = referenced[String(word)] ?? line
                return try? InterfaceName(String(word))
            }
        }
        for option in stanza.options {
            let (key, value, line) = option
            switch key {
            case "address":
                guard let prefix = try? IPPrefix(String(value)) else { invalid(option, "an address with prefix length"); continue }
                addresses.append(prefix)
                lastAddress = (addresses.count - 1, line)
                accounting.mapped(line)
            case "netmask":
                // `address 10.0.0.1` + `netmask 255.255.255.0`: the classic ifupdown spelling.
                guard let mask = try? IPAddress(String(value)), let length = prefixLength(of: mask) else { invalid(option, "a netmask"); continue }
                guard let last = lastAddress, addresses[last.index].family == mask.family else {
                    accounting.error(.pveInvalidValue, "netmask '\(mask)' does not follow an address of \(name)", at: line.location)
                    continue
                }
                addresses[last.index] = IPPrefix(address: addresses[last.index].address, length: length)
                accounting.mapped(line)
            case "mtu":
                guard let number = Int(value), let parsed = try? MTU(number) else { invalid(option, "an MTU"); continue }
                mtu = parsed
                accounting.mapped(line)
            case "bond-slaves", "bond-members", "slaves":
                isBond = true
                bond.members = names(value, line)
                accounting.mapped(line)
            case "bond-mode", "bond_mode":
                isBond = true
                let modes: [String: Bond.Mode] = ["0": .balanceRR, "1": .activeBackup, "2": .balanceXOR, "3": .broadcast, "4": .lacp, "5": .balanceTLB, "6": .balanceALB]
                guard let mode = Bond.Mode(rawValue: String(value)) ?? modes[String(value)] else { invalid(option, Bond.Mode.allCases.map(\.rawValue).joined(separator: ", ")); continue }
                bond.mode = mode
                accounting.mapped(line)
            case "bond-miimon":
                guard let number = Int(value) else { invalid(option, "milliseconds"); continue }
                bond.miimon = number
                accounting.mapped(line)
            case "bond-xmit-hash-policy", "bond-xmit_hash_policy":
                guard let policy = Bond.TransmitHashPolicy(rawValue: String(value)) else { invalid(option, Bond.TransmitHashPolicy.allCases.map(\.rawValue).joined(separator: ", ")); continue }
                bond.transmitHashPolicy = policy
                accounting.mapped(line)
            case "bond-lacp-rate":
                let rates: [String: Bond.LACPRate] = ["slow": .slow, "0": .slow, "fast": .fast, "1": .fast]
                guard let rate = rates[String(value)] else { invalid(option, "slow or fast"); continue }
                bond.lacpRate = rate
                accounting.mapped(line)
            case "bond-min-links":
                guard let number = Int(value) else { invalid(option, "a number"); continue }
                bond.minLinks = number
                accounting.mapped(line)
            case "bond-primary":
                bond.primary = try? InterfaceName(String(value))
                accounting.mapped(line)
            case "bridge-ports", "bridge_ports":
                isBridge = true
                bridge.ports = names(value, line)
                accounting.mapped(line)
            case "bridge-stp", "bridge_stp":
                stp = ProxmoxValues.bool(value) ?? false
                bridge.stp = stp
                accounting.mapped(line)
            case "bridge-fd", "bridge_fd":
                forwardDelayLine = line
            case "bridge-vlan-aware":
                bridge.vlanAware = ProxmoxValues.bool(value) ?? false
                isBridge = true
                accounting.mapped(line)
            case "bridge-vids":
                // ifupdown2 separates VLANs with spaces: `2-4094` or `10 20 100-199`.
                guard let set = try? VLANSet(value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: ",")) else { invalid(option, "VLAN ids and ranges"); continue }
                bridge.vids = set
                accounting.mapped(line)
            case "bridge-pvid":
                guard let pvid = try? VLANID(String(value)) else { invalid(option, "a VLAN id"); continue }
                bridge.pvid = pvid
                accounting.mapped(line)
            case "vlan-raw-device", "vlan_raw_device":
                vlanParent = try? InterfaceName(String(value))
                accounting.mapped(line)
            case "vlan-id":
                guard let id = try? VLANID(String(value)) else { invalid(option, "a VLAN id"); continue }
                vlanID = id
                accounting.mapped(line)
            case "vlan-protocol":
                guard let proto = VLANProtocol(text: String(value)) else { invalid(option, "802.1q or 802.1ad"); continue }
                vlanProtocol = proto
                accounting.mapped(line)
            case "gateway":
                accounting.leftToHost(line, meaning: "the node's default route via \(value)", reason: "sdn does not manage the node's own routes")
            case "hwaddress":
                accounting.dropped(line, meaning: "set \(name)'s MAC address to \(value)", reason: "sdn does not change a link's MAC address")
            case "dns-nameservers", "dns-search", "dns-domain":
                accounting.leftToHost(line, meaning: "the node's DNS resolver settings", reason: "resolver settings are the host's")
            case "pre-up", "up", "post-up", "pre-down", "down", "post-down":
                accounting.dropped(line, meaning: "a shell command run when \(name) goes \(key.hasSuffix("up") ? "up" : "down"): \(value)", reason: "sdn runs no commands; model what the command does, or keep it on the host")
            default:
                accounting.dropped(line, meaning: "interface option '\(key)' of \(name)", reason: "sdn's uplinks have no such setting")
            }
        }
        if let line = forwardDelayLine {
            if stp {
                accounting.dropped(line, meaning: "the bridge's STP forward delay", reason: "sdn uses the kernel's default forward delay")
            } else {
                accounting.changed(line, meaning: "the bridge's STP forward delay", action: "left out", reason: "without STP the forward delay has no effect")
            }
        }
        let kind: Uplink.Kind
        if isBond {
            kind = .bond(bond)
        } else if isBridge {
            kind = .bridge(bridge)
        } else if let vlanID, let vlanParent {
            kind = .vlan(VLANInterface(parent: vlanParent, id: vlanID, proto: vlanProtocol))
        } else if let dot = name.lastIndex(of: "."), let id = try? VLANID(String(name[name.index(after: dot)...])),
                  let parent = try? InterfaceName(String(name[..<dot])) {
            // `eno1.100`, `vmbr0.10`: ifupdown2 makes a VLAN of the part after the dot.
            kind = .vlan(VLANInterface(parent: vlanParent ?? parent, id: vlanID ?? id, proto: vlanProtocol))
        } else {
            kind = .physical(mac: nil)
        }
        return Uplink(name: interface, kind: kind, mtu: mtu, addresses: addresses, comment: stanza.comment)
    }

    private static func prefixLength(of mask: IPAddress) -> Int? {
        let bits = mask.integerValue
        let width = mask.family.bitWidth
        var length = 0
        while length < width && (bits >> UInt128(width - 1 - length)) & 1 == 1 { length += 1 }
        // Contiguous ones, then zeros.
        let expected: UInt128 = length == 0 ? 0 : ((UInt128(1) << UInt128(length)) - 1) << UInt128(width - length)
        return bits == expected ? length : nil
    }
}
