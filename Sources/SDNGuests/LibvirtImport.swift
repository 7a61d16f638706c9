import SDNConfig
public import SDNModel

/// `sdn import libvirt`: libvirt domains → guest entries for `Topologies/`.
///
/// Each domain becomes a KVM guest (its vmid from `<sdn:guest vmid=…>` metadata or a name like `101`,
/// `vm101`, `vm-101`); each interface becomes NIC `net<position>` with its MAC, its bridge mapped to a
/// vnet (a bridge named like a vnet is that vnet; `--map BRIDGE=VNET` for the others) and its VLAN tag
/// or trunks. An interface that cannot be mapped gets one diagnostic naming the domain and the
/// interface, and is left out.
public struct LibvirtImport: Sendable {
    /// A domain to import and where it came from.
    public struct Source: Sendable {
        public var domain: DomainDescription
        /// The XML file it was read from (diagnostics then point into it), or nil for a domain read
        /// from libvirt.
        public var file: String?
        /// The XML text, to locate each interface's line in `file`.
        public var xml: String?

        public init(domain: DomainDescription, file: String? = nil, xml: String? = nil) {
            self.domain = domain
            self.file = file
            self.xml = xml
        }
    }

    public var guests: [Guest]
    /// One per interface (or domain) that could not be carried over, and per bad `--map`.
    public var diagnostics: [Diagnostic]
    /// The guests as a `Topologies/` document.
    public var yaml: String

    /// Parses `--map BRIDGE=VNET` arguments; the diagnostics say which are malformed or name a vnet
    /// the configuration does not have (checked only when `vnetNames` is not nil).
    public static func parseMaps(_ arguments: [String], vnetNames: Set<String>?) -> (maps: [String: String], diagnostics: [Diagnostic]) {
        var maps: [String: String] = [:]
        var diagnostics: [Diagnostic] = []
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                diagnostics.append(.error(.libvirtInvalidMap, "--map '\(argument)' is not BRIDGE=VNET", at: nil, path: "--map", hint: "e.g. --map virbr0=web"))
                continue
            }
            let (bridge, vnet) = (String(parts[0]), String(parts[1]))
            if let vnetNames, !vnetNames.contains(vnet) {
                diagnostics.append(.error(.libvirtInvalidMap, "--map \(argument): the configuration has no vnet '\(vnet)'", at: nil, path: "--map",
                                          hint: vnetNames.isEmpty ? "it declares no vnets" : "vnets: \(vnetNames.sorted().joined(separator: ", "))"))
                continue
            }
            if let earlier = maps[bridge], earlier != vnet {
                diagnostics.append(.error(.libvirtInvalidMap, "--map maps bridge '\(bridge)' to both '\(earlier)' and '\(vnet)'", at: nil, path: "--map"))
                continue
            }
            maps[bridge] = vnet
        }
        return (maps, diagnostics)
    }

    /// Imports `sources` for `node`.
    /// - Parameters:
    ///   - vnets: the configuration's vnets (a bridge named like one maps to it; VLAN tags need it to be VLAN-aware).
    ///   - maps: bridge name → vnet name, from `--map`.
    ///   - origin: where the domains came from, for the document's header (a URI or "XML files").
    public init(_ sources: [Source], node: String, vnets: [VNet], maps: [String: String], origin: String) {
        let vnetsByName = Dictionary(vnets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var guests: [Guest] = []
        var diagnostics: [Diagnostic] = []
        var comments: [Int: (domain: String, nics: [Int: String])] = [:]
        var firstSource: [Int: String] = [:]

        for source in sources {
            let domain = source.domain
            let spans = source.xml.flatMap(InterfaceSpans.find(in:))
            func location(_ interface: DomainInterface?) -> SourceLocation? {
                guard let file = source.file else { return nil }
                guard let interface, let span = spans?[safe: interface.position] else { return SourceLocation(file: file, line: 1, column: 1) }
                return SourceLocation(file: file, line: span.line, column: span.indent.count + 1)
            }
            func path(_ interface: DomainInterface?) -> String {
                "domain \(domain.name)" + (interface.map { " interface \($0.position)" } ?? "")
            }
            guard let id = domain.vmid else {
                let hint = "name the domain 101, vm101 or vm-101, or add <metadata><sdn:guest xmlns:sdn='\(DomainDescription.metadataNamespace)' vmid='101'/></metadata> to it"
                if domain.interfaces.isEmpty {
                    diagnostics.append(.warning(.libvirtNoVmid, "domain \(domain.name) has no vmid; it is not imported", at: location(nil), path: path(nil), hint: hint))
                }
                for interface in domain.interfaces {
                    diagnostics.append(.warning(.libvirtNoVmid, "domain \(domain.name) has no vmid, so its \(interface.summary) cannot become a guest NIC",
                                                at: location(interface), path: path(interface), hint: hint))
                }
                continue
            }
            let described = "domain \(domain.name)" + (source.file.map { " (\($0))" } ?? "")
            if let first = firstSource[id] {
                diagnostics.append(.error(.libvirtDuplicateGuest, "\(described) has vmid \(id), as \(first) does; it is not imported",
                                          at: location(nil), path: path(nil), hint: "give one of them another vmid in its metadata"))
                continue
            }
            firstSource[id] = described

            var guest = Guest(id: id, name: domain.name, kind: .kvm, node: node)
            var nicComments: [Int: String] = [:]
            for interface in domain.interfaces {
                func skip(_ code: DiagnosticCode, _ message: String, hint: String) {
                    diagnostics.append(.warning(code, "domain \(domain.name): \(interface.summary): \(message); the NIC is not imported",
                                                at: location(interface), path: path(interface), hint: hint))
                }
                guard GuestNIC.validIndices.contains(interface.position) else { continue }
                let bridge: String
                switch interface.type {
                case "bridge":
                    guard let name = interface.sourceBridge else {
                        skip(.libvirtInterfaceType, "a bridge interface without <source bridge=…>", hint: "name its bridge in the domain")
                        continue
                    }
                    bridge = name
                case "ethernet" where interface.targetDevice.map { $0.hasPrefix("tap") } ?? false:
                    skip(.libvirtInterfaceType, "an ethernet interface on a tap made outside libvirt (\(interface.targetDevice!)); which vnet it is on is not in the XML",
                         hint: "declare the NIC in Topologies/ by hand (sdn guest xml prints the interface for it)")
                    continue
                default:
                    let meaning = switch interface.type {
                    case "network": "on libvirt network '\(interface.sourceNetwork ?? "?")', which sdn does not manage"
                    case "direct": "a macvtap on \(interface.sourceDevice ?? "a host device"), which bypasses any bridge"
                    case "user": "QEMU user-mode networking, which has no host port"
                    default: "of type '\(interface.type)', which sdn cannot plug into a vnet"
                    }
                    skip(.libvirtInterfaceType, meaning, hint: "change the domain to <interface type='bridge'> on the vnet's bridge (then sdn guest adopt), or declare the NIC by hand")
                    continue
                }
                guard let vnetName = maps[bridge] ?? (vnetsByName[bridge] != nil ? bridge : nil) else {
                    skip(.libvirtUnknownBridge, "bridge '\(bridge)' is not a vnet", hint: "map it: --map \(bridge)=VNET")
                    continue
                }
                var nic = GuestNIC(index: interface.position, attachment: .vnet(vnetName), mac: interface.mac)
                if interface.mac == nil {
                    diagnostics.append(.warning(.libvirtMissingMac, "domain \(domain.name): \(interface.summary) has no MAC address; net\(interface.position) is imported without one",
                                                at: location(interface), path: path(interface), hint: "add its MAC to the NIC: anti-spoofing and the FDB need it"))
                }
                if !interface.vlanTags.isEmpty {
                    if vnetsByName[vnetName]?.vlanAware == false {
                        skip(.libvirtVlanOnPlainVnet, "VLAN \(interface.vlanTags.map(String.init).joined(separator: ",")) on vnet '\(vnetName)', which is not VLAN-aware",
                             hint: "make the vnet vlan-aware, or map the bridge to the vnet of that VLAN")
                        continue
                    }
                    if interface.vlanTags.count == 1, let tag = try? VLANID(interface.vlanTags[0]) {
                        nic.tag = tag
                    } else if let trunks = try? VLANSet(interface.vlanTags.map(String.init).joined(separator: ",")) {
                        nic.trunks = trunks
                    }
                }
                guest.nics.append(nic)
                nicComments[nic.index] = "\(interface.summary)" + (maps[bridge] != nil ? ", --map \(bridge)=\(vnetName)" : "")
            }
            guests.append(guest)
            comments[id] = (described + (domain.uuid.isEmpty ? "" : ", uuid \(domain.uuid)"), nicComments)
        }
        guests.sort { $0.id < $1.id }
        self.guests = guests
        self.diagnostics = diagnostics
        self.yaml = Self.render(guests, comments: comments, origin: origin)
    }

    private static func render(_ guests: [Guest], comments: [Int: (domain: String, nics: [Int: String])], origin: String) -> String {
        var yaml = YAMLWriter()
        yaml.comment("Guests imported from libvirt (\(origin)) by `sdn import libvirt`.")
        if guests.isEmpty {
            yaml.field("guests", "{}", indent: 0)
            return yaml.text
        }
        yaml.open("guests", indent: 0)
        for guest in guests {
            if let comment = comments[guest.id]?.domain { yaml.comment(comment, indent: 1) }
            yaml.open(String(guest.id), indent: 1)
            yaml.field("name", YAMLWriter.scalar(guest.name), indent: 2)
            yaml.field("kind", guest.kind.rawValue, indent: 2)
            yaml.field("node", YAMLWriter.scalar(guest.node), indent: 2)
            if guest.nics.isEmpty {
                yaml.field("nics", "{}", indent: 2)
                continue
            }
            yaml.open("nics", indent: 2)
            for nic in guest.nics {
                if let comment = comments[guest.id]?.nics[nic.index] { yaml.comment(comment, indent: 3) }
                yaml.open("net\(nic.index)", indent: 3)
                if case .vnet(let name) = nic.attachment { yaml.field("vnet", YAMLWriter.scalar(name), indent: 4) }
                if let mac = nic.mac { yaml.field("mac", YAMLWriter.quoted(mac.description), indent: 4) }
                if let tag = nic.tag { yaml.field("tag", String(tag.value), indent: 4) }
                if let trunks = nic.trunks { yaml.field("trunks", YAMLWriter.quoted(trunks.description), indent: 4) }
            }
        }
        return yaml.text
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
