import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// Unknown ports (issue 11, part 3): a port on a vnet bridge that is no declared guest NIC of the node
/// and none of the node's own ports passes nothing, in and out, counted; a vnet with
/// `unknown-ports: accept` opts out. Expectations are written from the topology below (names from
/// docs/schema.md, "Generated interface names"), not from the compiler.
@Suite struct UnknownPortTests {
    static let topology = """
        nodes:
          pve2: { address: 192.0.2.11 }
          pve1:
            address: 192.0.2.10
            management: [192.0.2.0/24]
            uplinks:
              eth0: {}
              vmbr0:
                bridge: { ports: [eth0] }
                addresses: [192.0.2.10/24]
        zones:
          local: { type: simple }
          lan: { type: vlan, bridge: vmbr0, nodes: [pve1] }
          overlay: { type: vxlan, peers: [192.0.2.11] }
        vnets:
          web:
            zone: local
            subnets:
              10.10.0.0/24: { gateway: 10.10.0.1 }
              "fd61::/64": { gateway: "fd61::1" }
          lab:
            zone: local
            unknown-ports: accept
            subnets:
              10.30.0.0/24: { gateway: 10.30.0.1 }
          v20: { zone: lan, tag: 20 }
          blue: { zone: overlay, tag: 100 }
        guests:
          101:
            node: pve1
            nics:
              net0: { vnet: web, mac: "52:54:00:00:01:01", ip: [10.10.0.11, "fd61::11"] }
          102:
            kind: lxc
            node: pve1
            nics:
              net0: { vnet: web, mac: "52:54:00:00:01:02", ip: [10.10.0.12], firewall: false }
              net1: { vnet: blue, mac: "52:54:00:00:01:12" }
          103:
            node: pve1
            nics:
              net0: { vnet: lab, mac: "52:54:00:00:01:03", ip: [10.30.0.13] }
          104:
            node: pve1
            nics:
              net0: { vnet: v20, mac: "52:54:00:00:01:04" }
          105:
            node: pve2
            nics:
              net0: { vnet: blue, mac: "52:54:00:00:01:05" }
        """
    static let policy = """
        guests:
          101:
            options: { policy-in: drop }
            rules: [in accept Ping]
        """

    static var validated: Validated<DesiredState> {
        get throws {
            try validate([
                ConfigDocument(path: "Topologies/ports.yaml", text: topology, kind: .topology),
                ConfigDocument(path: "Policies/ports.yaml", text: policy, kind: .policy),
            ])
        }
    }

    /// `minimal` with nft_meta_bridge: br_netfilter kernels that have the bridge meta expression.
    static let minimalWithMeta = KernelFeatures(bridgeConntrack: false, bridgeReject: false, bridgeMeta: true)
    static let layouts: [(String, KernelFeatures)] = [("full", .full), ("minimal+meta", minimalWithMeta)]

    static func bridgeTable(_ ruleset: Ruleset) throws -> Table {
        try #require(ruleset.tables.first { $0.family == .bridge && $0.name == "sdn" })
    }

    static func elements(_ table: Table, _ set: String) -> Set<[String]> {
        Set((table.sets.first { $0.name == set }?.elements ?? []).map { element in
            element.key.map { value in if case .string(let text) = value { text } else { "\(value)" } }
        })
    }

    @Test(arguments: layouts)
    func strictBridgesAndTheirKnownPortsAreListed(_ layout: (String, KernelFeatures)) throws {
        let compiled = FirewallCompiler.compile(try Self.validated, node: "pve1", features: layout.1, parallelism: .serial)
        let bridge = try Self.bridgeTable(compiled.ruleset)
        // `lab` opts out; every other vnet of the node drops its unknown ports.
        #expect(Self.elements(bridge, "vnets_strict") == [["web"], ["v20"], ["blue"]])
        #expect(Self.elements(bridge, "vnet_ports") == [
            ["web", "tap101i0"],
            ["web", "veth102i0"],      // the firewall is off on this NIC: it is still declared
            ["blue", "veth102i1"],
            ["v20", "tap104i0"],
            ["blue", "vxlan_blue"],    // the node's own ports: the VXLAN device and the VLAN port
            ["v20", "eth0.20"],
        ])
        #expect(!compiled.diagnostics.contains { $0.code == .unknownPortsPass })
    }

    @Test(arguments: layouts)
    func theDropRunsBeforeAnythingElseOnTheWayInAndOnPostroutingOnTheWayOut(_ layout: (String, KernelFeatures)) throws {
        let compiled = FirewallCompiler.compile(try Self.validated, node: "pve1", features: layout.1, parallelism: .serial)
        let bridge = try Self.bridgeTable(compiled.ruleset)
        let spoof = try #require(bridge.chains.first { $0.name == "guests-spoof" })
        #expect(spoof.base?.hook == .prerouting)
        #expect(spoof.rules.first?.id == "unknown-ports/in")
        let out = try #require(bridge.chains.first { $0.name == "unknown-ports-out" })
        #expect(out.base?.hook == .postrouting)
        #expect(out.rules.map(\.id) == ["unknown-ports/out"])
        let text = NFTTextRenderer.render(compiled.ruleset, replacing: true)
        #expect(text.contains("meta ibrname @vnets_strict meta ibrname . iifname != @vnet_ports counter drop"))
        #expect(text.contains("meta obrname @vnets_strict meta obrname . oifname != @vnet_ports counter drop"))
    }

    @Test(arguments: layouts)
    func packetsFromAndToPortsAreJudgedByTheirBridge(_ layout: (String, KernelFeatures)) throws {
        let ruleset = FirewallCompiler.compile(try Self.validated, node: "pve1", features: layout.1, parallelism: .serial).ruleset
        let interpreter = PacketInterpreter(ruleset: ruleset)
        func verdictIn(_ port: String, on bridge: String) throws -> (PacketVerdict, String?) {
            var packet = Packet(saddr: try IPAddress("10.10.0.99"), daddr: try IPAddress("10.10.0.1"), l4proto: .tcp, sport: 40000, dport: 22,
                                tcpFlags: [.syn], ctState: .new)
            packet.network = .ipv4
            packet.iifname = port
            packet.ibrname = bridge
            packet.etherSource = try MACAddress("02:00:00:00:00:99")
            packet.etherDestination = try MACAddress("02:00:00:00:00:01")
            let trace = try interpreter.trace(packet, at: .init(.bridge, .prerouting))
            return (trace.verdict, trace.steps.last { $0.kind == .rule && $0.matched }?.ruleID)
        }
        let unknown = try verdictIn("tap999i0", on: "web")
        #expect(unknown.0 == .drop)
        #expect(unknown.1 == "unknown-ports/in")
        // A declared port of another bridge is unknown here too.
        #expect(try verdictIn("tap103i0", on: "web").1 == "unknown-ports/in")
        #expect(try verdictIn("tap101i0", on: "web").1 != "unknown-ports/in")
        #expect(try verdictIn("vxlan_blue", on: "blue").0 == .accept)
        #expect(try verdictIn("eth0.20", on: "v20").0 == .accept)
        // The opted-out vnet and the uplink bridge (no vnet) are not ours to police.
        #expect(try verdictIn("tap999i0", on: "lab").0 == .accept)
        #expect(try verdictIn("tap999i0", on: "vmbr0").0 == .accept)

        func verdictOut(_ port: String, on bridge: String) throws -> PacketVerdict {
            var packet = Packet(saddr: try IPAddress("10.10.0.1"), daddr: try IPAddress("10.10.0.99"), l4proto: .udp, sport: 67, dport: 68, ctState: .new)
            packet.network = .ipv4
            packet.oifname = port
            packet.obrname = bridge
            return try interpreter.trace(packet, at: .init(.bridge, .postrouting)).verdict
        }
        #expect(try verdictOut("tap999i0", on: "web") == .drop)
        #expect(try verdictOut("tap999i0", on: "lab") == .accept)
        #expect(try verdictOut("vxlan_blue", on: "blue") == .accept)
    }

    @Test func withoutBridgeMetaUnknownPortsPassAndTheCompilerSaysWhere() throws {
        for features in [KernelFeatures.minimal, KernelFeatures(bridgeConntrack: true, bridgeReject: true, bridgeMeta: false)] {
            let compiled = FirewallCompiler.compile(try Self.validated, node: "pve1", features: features, parallelism: .serial)
            let bridge = try Self.bridgeTable(compiled.ruleset)
            #expect(!bridge.sets.contains { $0.name == "vnets_strict" || $0.name == "vnet_ports" })
            #expect(!bridge.chains.contains { $0.name == "unknown-ports-out" })
            let warnings = compiled.diagnostics.filter { $0.code == .unknownPortsPass }
            #expect(warnings.count == 1)
            let warning = try #require(warnings.first)
            #expect(warning.message.contains("web, v20, blue"))
            #expect(!warning.message.contains("lab"))
            #expect(warning.location?.file == "Topologies/ports.yaml")
            #expect(warning.hint?.contains("unknown-ports: accept") == true)
        }
    }

    @Test func aNodeWhoseVnetsAllOptOutHasNoUnknownPortObjects() throws {
        let topology = Self.topology.replacingOccurrences(of: "zone: local\n    subnets", with: "zone: local\n    unknown-ports: accept\n    subnets")
            .replacingOccurrences(of: "v20: { zone: lan, tag: 20 }", with: "v20: { zone: lan, tag: 20, unknown-ports: accept }")
            .replacingOccurrences(of: "blue: { zone: overlay, tag: 100 }", with: "blue: { zone: overlay, tag: 100, unknown-ports: accept }")
        let validated = try validate([ConfigDocument(path: "Topologies/ports.yaml", text: topology, kind: .topology)])
        for features in [KernelFeatures.full, .minimal] {
            let compiled = FirewallCompiler.compile(validated, node: "pve1", features: features, parallelism: .serial)
            let text = NFTTextRenderer.render(compiled.ruleset, replacing: true)
            #expect(!text.contains("vnets_strict") && !text.contains("unknown-ports"))
            #expect(!compiled.diagnostics.contains { $0.code == .unknownPortsPass })
        }
    }

    /// The incremental path carries a guest's known ports with its fragment, so a patched ruleset keeps
    /// the set as a full compile makes it.
    @Test(arguments: layouts)
    func aGuestFragmentCarriesItsKnownPorts(_ layout: (String, KernelFeatures)) throws {
        let validated = try Self.validated
        let fragment = FirewallCompiler.compileGuests([101, 102, 103], of: validated, node: "pve1", features: layout.1)
        let ports = Set((fragment.elements[.bridge]?["vnet_ports"] ?? []).map(\.key))
        #expect(ports == [[.string("web"), .string("tap101i0")], [.string("web"), .string("veth102i0")], [.string("blue"), .string("veth102i1")]])
        let withoutMeta = FirewallCompiler.compileGuests([101, 102], of: validated, node: "pve1", features: .minimal)
        #expect(withoutMeta.elements[.bridge]?["vnet_ports"] == nil)
    }

    // MARK: sdn trace

    static func firstRefusal(_ path: TraceScenario.Path, _ ruleset: Ruleset) throws -> String? {
        let interpreter = PacketInterpreter(ruleset: ruleset)
        for leg in path.legs {
            let trace = try interpreter.trace(leg.packet, at: leg.hook)
            if trace.verdict != .accept {
                return "\(leg.hook): " + (trace.steps.last { $0.kind == .rule && $0.matched }?.ruleID ?? "")
            }
        }
        return nil
    }

    @Test(arguments: layouts)
    func traceFromAndToAnUndeclaredPort(_ layout: (String, KernelFeatures)) throws {
        let validated = try Self.validated
        let state = validated.value
        let ruleset = FirewallCompiler.compile(validated, node: "pve1", features: layout.1, parallelism: .serial).ruleset
        let tcp = TraceScenario.Service(proto: .tcp, port: 22)
        func refusal(from: String, to: String, source: String? = nil, destination: String? = nil) throws -> String? {
            let path = try TraceScenario.path(from: .parse(from, in: state), to: .parse(to, in: state), service: tcp, state: .new, in: state, node: "pve1",
                                              features: layout.1, sourceAddress: try source.map { try IPAddress($0) },
                                              destinationAddress: try destination.map { try IPAddress($0) })
            return try Self.firstRefusal(path, ruleset)
        }
        // In from an undeclared port: to the node, to a guest on its bridge; both dropped where they enter.
        #expect(try refusal(from: "tap999i0@web", to: "node", source: "10.10.0.99") == "bridge prerouting: unknown-ports/in")
        #expect(try refusal(from: "tap999i0@web", to: "101", source: "10.10.0.99") == "bridge prerouting: unknown-ports/in")
        // Out to it: bridged from a guest, and sent by the node.
        #expect(try refusal(from: "101", to: "tap999i0@web", destination: "10.10.0.99") == "bridge postrouting: unknown-ports/out")
        // The minimal layout drops the node's new connections to an address no guest declares before
        // they reach the bridge (guests-in-local/undeclared-v4, docs/firewall-paths.md).
        #expect(try refusal(from: "node", to: "tap999i0@web", destination: "10.10.0.99")
                == (layout.1.guestMode == .bridgeFamily ? "bridge postrouting: unknown-ports/out" : "inet output: guests-in-local/undeclared-v4"))
        // The opted-out vnet lets it through to the node's input policy (SSH from outside management: dropped there).
        let optedOut = try refusal(from: "tap999i0@lab", to: "node", source: "10.30.0.99")
        #expect(optedOut?.contains("unknown-ports") != true)
        // A declared port named as a port is its guest.
        #expect(try refusal(from: "tap101i0@web", to: "node")?.contains("unknown-ports") != true)
    }

    @Test func tracePortEndpointsAreCheckedWithTheFix() throws {
        let state = try Self.validated.value
        func parseError(_ text: String) -> String {
            do { _ = try TraceScenario.Endpoint.parse(text, in: state); return "" } catch { return error.description }
        }
        #expect(try TraceScenario.Endpoint.parse("tap999i0@web", in: state) == .port("tap999i0", bridge: "web"))
        #expect(try TraceScenario.Endpoint.parse("eth1@vmbr0", in: state) == .port("eth1", bridge: "vmbr0"))
        #expect(parseError("tap999i0@wev").contains("did you mean 'web'"))
        #expect(parseError("tap/9@web").contains("is not an interface name"))
        do {
            _ = try TraceScenario.path(from: .parse("tap999i0@web", in: state), to: .node, service: .ping, state: .new, in: state, node: "pve1", features: .full)
            Issue.record("an undeclared port without --src-ip was traced")
        } catch {
            #expect(error.description.contains("--src-ip"))
        }
    }
}
