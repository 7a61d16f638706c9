import Testing
@testable import SDNModel

@Suite("Firewall macro catalog")
struct FirewallMacroTests {
    @Test func catalogHasProxmoxsMacros() {
        #expect(FirewallMacro.catalog.count >= 80)
    }

    @Test func namesAreUniqueIgnoringCase() {
        let lowered = FirewallMacro.catalog.map { $0.name.lowercased() }
        #expect(Set(lowered).count == lowered.count)
    }

    @Test func catalogIsSortedByName() {
        let names = FirewallMacro.catalog.map { $0.name.lowercased() }
        #expect(names == names.sorted())
    }

    @Test func everyMacroHasADescriptionAndEntries() {
        for macro in FirewallMacro.catalog {
            #expect(!macro.description.isEmpty, "\(macro.name) has no description")
            #expect(!macro.entries.isEmpty, "\(macro.name) has no entries")
        }
    }

    @Test func lookupIgnoresCase() throws {
        let ssh = try #require(FirewallMacro.named("ssh"))
        #expect(ssh.name == "SSH")
        #expect(ssh.entries == [FirewallMacro.Entry(proto: "tcp", dport: [PortRange(22)])])
        #expect(FirewallMacro.named("SPICEPROXY")?.name == "SPICEproxy")
        #expect(FirewallMacro.named("no-such-macro") == nil)
    }

    @Test func https() throws {
        let https = try #require(FirewallMacro.named("HTTPS"))
        #expect(https.entries == [FirewallMacro.Entry(proto: "tcp", dport: [PortRange(443)])])
    }

    @Test func dnsCoversTCPAndUDP() throws {
        let dns = try #require(FirewallMacro.named("DNS"))
        #expect(dns.entries.contains(FirewallMacro.Entry(proto: "tcp", dport: [PortRange(53)])))
        #expect(dns.entries.contains(FirewallMacro.Entry(proto: "udp", dport: [PortRange(53)])))
    }

    @Test func pingIsEchoRequest() throws {
        let ping = try #require(FirewallMacro.named("Ping"))
        #expect(ping.entries.contains(FirewallMacro.Entry(proto: "icmp", icmpType: "echo-request")))
        #expect(ping.entries.allSatisfy { $0.icmpType == "echo-request" && $0.dport.isEmpty && $0.sport.isEmpty })
    }

    @Test func portRangesAndListsAreConverted() throws {
        let smb = try #require(FirewallMacro.named("SMB"))
        #expect(smb.entries.last?.dport == [PortRange(135), PortRange(139), PortRange(445)])
        let vnc = try #require(FirewallMacro.named("VNC"))
        #expect(vnc.entries.first?.dport == [try PortRange(lower: 5900, upper: 5999)])
    }

    @Test func portsOnlyOnProtocolsWithPorts() {
        let withPorts: Set<String> = ["tcp", "udp", "sctp", "dccp", "udplite"]
        for macro in FirewallMacro.catalog {
            for entry in macro.entries where !entry.dport.isEmpty || !entry.sport.isEmpty {
                #expect(withPorts.contains(entry.proto), "\(macro.name): ports on \(entry.proto)")
            }
        }
    }

    @Test func icmpTypesOnlyOnICMP() {
        for macro in FirewallMacro.catalog {
            for entry in macro.entries {
                guard let type = entry.icmpType else { continue }
                #expect(entry.proto == "icmp" || entry.proto == "icmpv6", "\(macro.name): ICMP type on \(entry.proto)")
                let known = entry.proto == "icmpv6" ? ICMPType.ipv6 : ICMPType.ipv4
                #expect(known[type] != nil, "\(macro.name): unknown ICMP type \(type)")
            }
        }
    }

    @Test func everyProtocolIsKnown() {
        for macro in FirewallMacro.catalog {
            for entry in macro.entries {
                #expect(IPProtocolName(entry.proto) != nil, "\(macro.name): unknown protocol \(entry.proto)")
            }
        }
    }
}
