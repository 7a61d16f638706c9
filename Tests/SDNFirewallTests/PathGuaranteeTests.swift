import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNTesting
import Testing

/// The paths of docs/firewall-paths.md in the `minimal` layout, evaluated by the packet interpreter on the
/// compiled ruleset with each hook's packet built by hand (not by `TraceScenario`, so that a wrong trace leg
/// cannot hide a hole). The traffic tests send the same packets for real.
@Suite struct PathGuaranteeTests {
    static let topology = """
        nodes:
          n1:
            address: 192.0.2.10
            management: [192.0.2.0/24]
            uplinks:
              eth0: {}
              vmbr0: { bridge: { ports: [eth0] }, addresses: [192.0.2.10/24] }
        zones:
          local: { type: simple }
        vnets:
          app:
            zone: local
            subnets:
              10.1.0.0/24: { gateway: 10.1.0.1 }
              fd01::/64: { gateway: "fd01::1" }
        guests:
          101:
            node: n1
            nics:
              net0: { vnet: app, mac: "52:54:00:00:01:01", ip: [10.1.0.11, "fd01::11"] }
          102:
            node: n1
            nics:
              net0: { vnet: app, mac: "52:54:00:00:01:02", ip: [10.1.0.12] }
        """
    static let policy = """
        cluster:
          options: { policy-in: drop }
          rules:
            - in accept tcp dport 22
        vnets:
          app:
            rules:
              - forward drop tcp dport 8080
        guests:
          101:
            options: { policy-in: drop, policy-out: drop }
            rules:
              - in accept tcp dport 80
              - in accept udp dport 5353
          102:
            options: { policy-in: accept }
        """

    @Test(arguments: [KernelFeatures.minimal, .full])
    func vnetPolicyMeetsTrafficRoutedIntoAndOutOfTheVnet(_ features: KernelFeatures) throws {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: Self.policy, kind: .policy),
        ])
        let interpreter = PacketInterpreter(ruleset: FirewallCompiler.compile(validated, node: "n1", features: features).ruleset)
        // Into the vnet, to 102 (policy-in accept): only the vnet's rule can drop it.
        var into = Packet(iifname: "vmbr0", oifname: "app", etherSource: try MACAddress("52:54:00:99:99:99"), etherDestination: Self.bridgeMAC,
                          saddr: try IPAddress("198.51.100.7"), daddr: try IPAddress("10.1.0.12"), l4proto: .tcp, sport: 40000, dport: 8080, tcpFlags: [.syn])
        #expect(try interpreter.trace(into, at: .init(.inet, .forward)).verdict == .drop)
        into.dport = 8081
        #expect(try interpreter.trace(into, at: .init(.inet, .forward)).verdict == .accept)
        // Out of the vnet, from 102.
        let out = Packet(iifname: "app", oifname: "vmbr0", etherSource: try MACAddress("52:54:00:00:01:02"), etherDestination: Self.bridgeMAC,
                         saddr: try IPAddress("10.1.0.12"), daddr: try IPAddress("198.51.100.7"), l4proto: .tcp, sport: 40000, dport: 8080, tcpFlags: [.syn])
        #expect(try interpreter.trace(out, at: .init(.inet, .forward)).verdict == .drop)
    }

    static let guestMAC = try! MACAddress("52:54:00:00:01:01")
    static let bridgeMAC = try! MACAddress("02:00:00:00:00:01")

    func verdicts(_ packet: Packet, at hooks: [PacketInterpreter.HookPoint]) throws -> [PacketVerdict] {
        let validated = try validate([
            ConfigDocument(path: "Topologies/t.yaml", text: Self.topology, kind: .topology),
            ConfigDocument(path: "Policies/p.yaml", text: Self.policy, kind: .policy),
        ])
        let interpreter = PacketInterpreter(ruleset: FirewallCompiler.compile(validated, node: "n1", features: .minimal).ruleset)
        return try hooks.map { try interpreter.trace(packet, at: $0).verdict }
    }

    @Test func guestToNodeMeetsTheGuestsOutboundPolicy() throws {
        // 101 has policy-out drop; the node allows tcp/22 in.
        let packet = Packet(iifname: "app", etherSource: Self.guestMAC, etherDestination: Self.bridgeMAC,
                            saddr: try IPAddress("10.1.0.11"), daddr: try IPAddress("10.1.0.1"), l4proto: .tcp, sport: 40000, dport: 22, tcpFlags: [.syn])
        #expect(try verdicts(packet, at: [.init(.inet, .prerouting), .init(.inet, .input)]).contains(.drop))
        var fromOther = packet
        fromOther.etherSource = try MACAddress("52:54:00:00:01:02")
        fromOther.saddr = try IPAddress("10.1.0.12")
        #expect(try verdicts(fromOther, at: [.init(.inet, .prerouting), .init(.inet, .input)]) == [.accept, .accept])
    }

    @Test func nodeToGuestMeetsTheGuestsInboundPolicy() throws {
        var packet = Packet(oifname: "app", saddr: try IPAddress("10.1.0.1"), daddr: try IPAddress("10.1.0.11"), l4proto: .tcp, sport: 40000, dport: 22, tcpFlags: [.syn])
        #expect(try verdicts(packet, at: [.init(.inet, .output)]) == [.drop])
        packet.dport = 80
        #expect(try verdicts(packet, at: [.init(.inet, .output)]) == [.accept])
        packet.ctState = .established
        packet.dport = 22
        #expect(try verdicts(packet, at: [.init(.inet, .output)]) == [.accept])
    }

    @Test func routedToAnUndeclaredAddressIsDroppedUnlessItIsAReply() throws {
        var packet = Packet(iifname: "vmbr0", oifname: "app", etherSource: try MACAddress("52:54:00:99:99:99"), etherDestination: Self.bridgeMAC,
                            saddr: try IPAddress("198.51.100.7"), daddr: try IPAddress("10.1.0.99"), l4proto: .tcp, sport: 40000, dport: 80, tcpFlags: [.syn])
        #expect(try verdicts(packet, at: [.init(.inet, .forward)]) == [.drop])
        packet.ctState = .established
        #expect(try verdicts(packet, at: [.init(.inet, .forward)]) == [.accept])
        // IPv6 as well, and from the node.
        var v6 = Packet(oifname: "app", saddr: try IPAddress("fd01::1"), daddr: try IPAddress("fd01::99"), l4proto: .tcp, sport: 40000, dport: 80, tcpFlags: [.syn])
        #expect(try verdicts(v6, at: [.init(.inet, .output)]) == [.drop])
        v6.daddr = try IPAddress("fd01::11")
        #expect(try verdicts(v6, at: [.init(.inet, .output)]) == [.accept])
        // The subnet's broadcast address is not a guest's.
        let broadcast = Packet(oifname: "app", saddr: try IPAddress("10.1.0.1"), daddr: try IPAddress("10.1.0.255"), l4proto: .udp, sport: 40000, dport: 9)
        #expect(try verdicts(broadcast, at: [.init(.inet, .output)]) == [.accept])
    }

    @Test func broadcastToAGuestPortMeetsItsInboundRulesOnTheBridge() throws {
        let broadcastMAC = try MACAddress("ff:ff:ff:ff:ff:ff")
        var packet = Packet(iifname: "tap102i0", oifname: "tap101i0", etherSource: try MACAddress("52:54:00:00:01:02"), etherDestination: broadcastMAC,
                            saddr: try IPAddress("10.1.0.12"), daddr: try IPAddress("10.1.0.255"), l4proto: .udp, sport: 40000, dport: 9)
        #expect(try verdicts(packet, at: [.init(.bridge, .postrouting)]) == [.drop])
        packet.dport = 5353
        #expect(try verdicts(packet, at: [.init(.bridge, .postrouting)]) == [.accept])
        // TCP never travels in a broadcast frame: even a port the policy allows is dropped.
        packet.l4proto = .tcp
        packet.dport = 80
        packet.tcpFlags = [.syn]
        #expect(try verdicts(packet, at: [.init(.bridge, .postrouting)]) == [.drop])
        // The node's own broadcast, on the bridge's output hook (the kernel calls its frames `pkttype host`).
        var fromNode = Packet(oifname: "tap101i0", etherSource: Self.bridgeMAC, etherDestination: broadcastMAC,
                              saddr: try IPAddress("10.1.0.1"), daddr: try IPAddress("10.1.0.255"), l4proto: .udp, sport: 40000, dport: 9)
        #expect(try verdicts(fromNode, at: [.init(.bridge, .postrouting)]) == [.drop])
        fromNode.dport = 5353
        #expect(try verdicts(fromNode, at: [.init(.bridge, .postrouting)]) == [.accept])
        // ARP requests are broadcast: they pass.
        let arp = Packet(iifname: "tap102i0", oifname: "tap101i0", etherSource: try MACAddress("52:54:00:00:01:02"), etherDestination: broadcastMAC,
                         network: .arp, saddr: try IPAddress("10.1.0.12"), daddr: try IPAddress("10.1.0.11"))
        #expect(try verdicts(arp, at: [.init(.bridge, .postrouting)]) == [.accept])
    }

    @Test func macfilterChecksARPsSenderMAC() throws {
        // The frame's source MAC is right, the ARP sender inside it is not.
        var arp = Packet(iifname: "tap101i0", etherSource: Self.guestMAC, etherDestination: try MACAddress("ff:ff:ff:ff:ff:ff"),
                         network: .arp, saddr: try IPAddress("10.1.0.11"), daddr: try IPAddress("10.1.0.12"))
        #expect(try verdicts(arp, at: [.init(.bridge, .prerouting)]) == [.accept])
        arp.etherSource = try MACAddress("52:54:00:00:01:02")
        #expect(try verdicts(arp, at: [.init(.bridge, .prerouting)]) == [.drop])
    }
}
