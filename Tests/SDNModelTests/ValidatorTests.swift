@testable import SDNModel
import Testing

/// Validation on states built in code (the API path, without YAML).
@Suite struct ValidatorTests {
    func state() throws -> DesiredState {
        let node = Node(name: "n1", address: try IPAddress("192.0.2.1"))
        return DesiredState(
            nodes: [node],
            zones: [Zone(name: "overlay", kind: .vxlan(VXLANZone()))],
            vnets: [VNet(name: "web", zone: "overlay", tag: 100, subnets: [Subnet(cidr: try IPPrefix("10.0.0.0/24"), gateway: try IPAddress("10.0.0.1"))])],
            guests: [Guest(id: 100, name: "g", kind: .kvm, node: "n1", nics: [GuestNIC(index: 0, attachment: .vnet("web"))])])
    }

    @Test func validStateYieldsValidated() throws {
        let outcome = try state().validate()
        #expect(outcome.diagnostics.isEmpty, "\(outcome.diagnostics)")
        #expect(outcome.validated != nil)
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        var broken = try state()
        broken.vnets[0].tag = 0
        broken.vnets[0].subnets[0].gateway = try IPAddress("10.9.9.9")
        broken.guests[0].node = "nowhere"
        let outcome = broken.validate()
        #expect(outcome.validated == nil)
        let codes = Set(outcome.diagnostics.map(\.code))
        #expect(codes.isSuperset(of: [.tagOutOfRange, .gatewayOutsideSubnet, .undefinedReference]))
    }

    @Test func duplicateVNIAcrossZonesIsAnError() throws {
        var broken = try state()
        broken.zones.append(Zone(name: "other", kind: .vxlan(VXLANZone())))
        broken.vnets.append(VNet(name: "db", zone: "other", tag: 100))
        #expect(broken.validate().diagnostics.contains { $0.code == .duplicateVni })
    }

    @Test func longGeneratedInterfaceNameIsAnError() throws {
        var broken = try state()
        broken.vnets[0].name = "averylongvnet"
        broken.guests[0].nics[0].attachment = .vnet("averylongvnet")
        #expect(broken.validate().diagnostics.contains { $0.code == .interfaceNameTooLong && $0.message.contains("vxlan_averylongvnet") })
    }

    @Test func guestNICTagNeedsVLANAwareVNet() throws {
        var broken = try state()
        broken.guests[0].nics[0].tag = try VLANID(10)
        #expect(broken.validate().diagnostics.contains { $0.code == .requiresVlanAware })
        broken.vnets[0].vlanAware = true
        #expect(!broken.validate().diagnostics.contains { $0.code == .requiresVlanAware })
    }

    @Test func effectiveOptionsInheritFromCluster() throws {
        var firewall = FirewallConfig()
        firewall.cluster.options.policyIn = .reject
        firewall.guests = [FirewallPolicy(scope: .guest(100))]
        firewall.guests[0].options.ipfilter = true
        let options = firewall.effectiveOptions(for: .guest(100))
        #expect(options.policyIn == .reject)
        #expect(options.ipfilter == true)
        #expect(options.macfilter == true)
    }
}
