import SDNModel

/// A guest read from its Proxmox config, and where its parts were written.
struct ImportedGuest {
    var guest: Guest
    var file: String
    /// Where each NIC (`netN:` line) was written, by NIC index.
    var nicLocations: [Int: SourceLocation] = [:]
}

/// Reads `nodes/<node>/qemu-server/<vmid>.conf` and `nodes/<node>/lxc/<vmid>.conf`: the guest's name and
/// its `netN:` lines. Everything else in those files (disks, memory, CPUs, snapshots) is not networking.
enum GuestImport {
    static let qemuModels: Set<String> = [
        "virtio", "e1000", "e1000e", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "rtl8139", "vmxnet3", "ne2k_pci", "ne2k_isa",
        "pcnet", "i82551", "i82557b", "i82559er",
    ]

    static func parse(_ text: String, path: String, id: Int, kind: Guest.Kind, node: String, vnetNames: Set<String>,
                      accounting: inout Accounting) -> ImportedGuest {
        var imported = ImportedGuest(guest: Guest(id: id, name: "guest-\(id)", kind: kind, node: node), file: path)
        var inMainSection = true
        for line in SourceLine.lines(of: text, file: path) {
            let text = line.text
            if text.isEmpty || text.hasPrefix("#") {
                accounting.structure(line)
                continue
            }
            if text.hasPrefix("[") {
                // Snapshots, pending changes and cloud-init state: earlier or future versions of the
                // config, not what runs now.
                inMainSection = false
                accounting.outOfScope(line)
                continue
            }
            guard inMainSection else {
                accounting.outOfScope(line)
                continue
            }
            guard let colon = text.firstIndex(of: ":") else {
                accounting.error(.pveSyntax, "a guest config line is written 'key: value'", at: line.location)
                continue
            }
            let key = text[..<colon]
            let value = text[text.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            if (kind == .kvm && key == "name") || (kind == .lxc && key == "hostname") {
                imported.guest.name = String(value)
                accounting.mapped(line)
            } else if key.hasPrefix("net"), let index = Int(key.dropFirst(3)) {
                guard GuestNIC.validIndices.contains(index) else {
                    accounting.error(.pveInvalidNic, "'\(key)' is not a NIC slot; Proxmox has net0 … net31", at: line.location(of: key))
                    continue
                }
                if let nic = parseNIC(value, index: index, kind: kind, line: line, guestID: id, vnetNames: vnetNames, imported: &imported, accounting: &accounting) {
                    imported.guest.nics.append(nic)
                    imported.nicLocations[index] = line.location
                }
            } else {
                accounting.outOfScope(line)
            }
        }
        imported.guest.nics.sort { $0.index < $1.index }
        return imported
    }

    private static func parseNIC(_ value: Substring, index: Int, kind: Guest.Kind, line: SourceLine, guestID: Int, vnetNames: Set<String>,
                                 imported: inout ImportedGuest, accounting: inout Accounting) -> GuestNIC? {
        var mac: MACAddress?
        var bridge: Substring?
        var tag: VLANID?
        var trunks: VLANSet?
        var firewall = false
        var rate: Double?
        var ips: [IPPrefix] = []
        let what = "guest \(guestID) net\(index)"
        for (position, item) in value.split(separator: ",").enumerated() {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = pair[0]
            let setting = pair.count == 2 ? pair[1] : nil
            func invalid(_ expected: String) {
                accounting.error(.pveInvalidValue, "'\(item)' in \(what): expected \(expected)", at: line.location(of: setting ?? item))
            }
            if kind == .kvm && position == 0 && qemuModels.contains(String(key)) {
                // `virtio=MAC`: the NIC model, and its MAC address. The model is the VM's hardware.
                if let setting {
                    guard let parsed = try? MACAddress(String(setting)) else { invalid("a MAC address"); return nil }
                    mac = parsed
                }
                continue
            }
            switch key {
            case "macaddr", "hwaddr":
                guard let setting, let parsed = try? MACAddress(String(setting)) else { invalid("a MAC address"); return nil }
                mac = parsed
            case "model":
                continue
            case "bridge":
                bridge = setting
            case "tag":
                guard let setting, let parsed = try? VLANID(String(setting)) else { invalid("a VLAN id 1-4094"); return nil }
                tag = parsed
            case "trunks":
                // Proxmox separates trunk VLANs with ';' (the NIC's own list uses ',').
                guard let setting, let parsed = try? VLANSet(String(setting.map { $0 == ";" ? "," : $0 })) else { invalid("VLAN ids and ranges separated by ';'"); return nil }
                trunks = parsed
            case "firewall":
                guard let setting, let parsed = ProxmoxValues.bool(setting) else { invalid("0 or 1"); return nil }
                firewall = parsed
            case "rate":
                guard let setting, let parsed = Double(setting), parsed > 0 else { invalid("a rate in MB/s"); return nil }
                rate = parsed
            case "link_down":
                if let setting, ProxmoxValues.bool(setting) == true {
                    accounting.dropped(line, input: item, meaning: "the NIC's link is down (the guest sees no carrier)", reason: "sdn has no link state for guest NICs; the NIC comes up")
                }
            case "queues", "mtu":
                accounting.note(.leftToHost, at: line.location(of: item), input: String(item), meaning: "the virtual NIC's \(key == "mtu" ? "MTU inside the guest" : "number of queues")",
                                action: "not imported; the guest's own definition keeps it", reason: "sdn plugs the NIC into the network, it does not define the guest's hardware")
            case "name", "type":
                accounting.note(.leftToHost, at: line.location(of: item), input: String(item), meaning: key == "name" ? "the interface's name inside the container" : "the container NIC type (veth)",
                                action: "not imported; the container's own definition keeps it", reason: "sdn sees the host side of the NIC only")
            case "ip", "ip6":
                guard let setting else { invalid("an address"); return nil }
                if ["dhcp", "manual", "auto"].contains(setting) {
                    accounting.note(.leftToHost, at: line.location(of: item), input: String(item), meaning: "the container configures \(key == "ip" ? "IPv4" : "IPv6") by \(setting)",
                                    action: "not imported; no fixed address to declare", reason: "only static addresses become the NIC's ip list")
                } else if let prefix = ProxmoxValues.prefix(setting) {
                    // The container holds address/length; the NIC may send from that one address.
                    ips.append(IPPrefix(address: prefix.address, length: prefix.family.bitWidth))
                } else {
                    invalid("an address with prefix length, dhcp, auto or manual"); return nil
                }
            case "gw", "gw6":
                accounting.note(.leftToHost, at: line.location(of: item), input: String(item), meaning: "the container's default gateway",
                                action: "not imported; the container's own definition keeps it", reason: "routes inside a guest are the guest's")
            default:
                accounting.error(.pveUnknownOption, "unknown NIC option '\(key)' in \(what)", at: line.location(of: key))
            }
        }
        guard let bridge else {
            accounting.dropped(line, meaning: "\(what) without a bridge (QEMU user networking or an unplugged NIC)", reason: "sdn plugs NICs into vnets and bridges only")
            return nil
        }
        let attachment: GuestNIC.Attachment
        if vnetNames.contains(String(bridge)) {
            attachment = .vnet(String(bridge))
        } else {
            guard let name = try? InterfaceName(String(bridge)) else {
                accounting.error(.pveInvalidValue, "'\(bridge)' is not an interface name", at: line.location(of: bridge))
                return nil
            }
            attachment = .bridge(name)
        }
        accounting.mapped(line)
        return GuestNIC(index: index, attachment: attachment, mac: mac, tag: tag, trunks: trunks, firewall: firewall, ips: ips, rateLimit: rate)
    }
}
