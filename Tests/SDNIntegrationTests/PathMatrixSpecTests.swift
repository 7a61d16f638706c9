import Foundation
import SDNConfig
import SDNModel
import SDNTesting
import Testing

/// The path matrix's hand-written model of its lab (PathMatrix) agrees with the fixture it runs, and
/// its flow list covers the whole matrix of issue 8. No root, no kernel.
@Suite struct PathMatrixSpecTests {
    static func fixture() throws -> DesiredState {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(loadExampleDocuments(PathMatrix.fixtureDirectory))
        return try #require(validated, "the path-matrix fixture does not validate: \(diagnostics.map(\.description))").value
    }

    @Test func theLabModelMirrorsTheFixture() throws {
        let state = try Self.fixture()
        #expect(state.guests.map(\.id).sorted() == PathMatrix.guests.map(\.id).sorted())
        for model in PathMatrix.guests {
            let guest = try #require(state.guests.first { $0.id == model.id })
            let nic = try #require(guest.nics.first)
            #expect(InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index) == model.port, "guest \(guest.id)")
            #expect(nic.mac?.description == model.mac, "guest \(guest.id)")
            #expect(nic.attachment == .vnet(model.vnet), "guest \(guest.id)")
            #expect(Set(nic.ips.map(\.address.description)) == Set(model.declared.values), "guest \(guest.id)")
            let vnet = try #require(state.vnets.first { $0.name == model.vnet })
            #expect(Set(vnet.subnets.compactMap { $0.gateway?.description }) == Set(model.gateway.values), "vnet \(model.vnet)")
            // The undeclared addresses must be inside the vnet's subnets and declared by nobody.
            let everyDeclared = Set(state.guests.flatMap { $0.nics.flatMap { $0.ips.map(\.address.description) } })
            for address in model.undeclared.values {
                #expect(!everyDeclared.contains(address), "\(address) is declared")
                #expect(vnet.subnets.contains { $0.cidr.contains(try! IPAddress(address)) }, "\(address) is outside \(model.vnet)")
            }
        }
        let node = try #require(state.nodes.first)
        let uplink = try #require(node.uplinks.first { $0.name.rawValue == "vmbr0" })
        #expect(Set(uplink.addresses.map(\.address.description)) == Set(PathMatrix.uplinkAddress.values))
        let subnets = Set(state.vnets.flatMap { $0.subnets.map(\.cidr.description) })
        #expect(subnets == Set(PathMatrix.vnetSubnets.values.flatMap { $0 }))
    }

    @Test func theFlowsCoverEveryPathFamilyAddressAndPolicy() {
        let flows = PathMatrix.flows
        #expect(Set(flows.map(\.id)).count == flows.count, "flow ids are unique")
        for path in [PathMatrix.Path.bridged, .routedVnet, .routedOutside, .nodeToGuest, .guestToNode] {
            for family in PathMatrix.Family.allCases {
                for declared in [true, false] {
                    for policy in [PathMatrix.Policy.allow, .drop, .reject] {
                        let matching = flows.filter {
                            $0.path == path && $0.family == family && $0.declared == declared && $0.policy == policy && $0.note.isEmpty
                        }
                        #expect(matching.count == 1, "\(path.rawValue) \(family.rawValue) \(declared ? "declared" : "undeclared") \(policy.rawValue)")
                    }
                }
            }
        }
        let forged = flows.filter { $0.counterRule != nil }
        #expect(forged.count == 4, "forged IPv4, IPv6 source and forged MAC in both families")
    }

    /// The oracle follows the layout table: only `minimal` drops routed and node traffic to an
    /// undeclared address, whatever the port; only `full` drops what a guest's inbound policy rejects
    /// (the kernel rejects on a bridge only on prerouting and input); everything else is the receiving
    /// policy's word.
    @Test func theOracleDiffersBetweenLayoutsExactlyOnUndeclaredRoutedAndNodePathsAndInboundRejects() {
        for flow in PathMatrix.flows {
            let minimal = PathMatrix.intent(of: flow, in: .minimal)
            let full = PathMatrix.intent(of: flow, in: .full)
            let closedInMinimal = !flow.destinationDeclared && [.routedVnet, .routedOutside, .nodeToGuest].contains(flow.path)
            let inboundReject: Bool = if case .guest = flow.to, flow.path != .spoof, flow.policy == .reject { true } else { false }
            if closedInMinimal {
                #expect(minimal == .dropped, "\(flow)")
            }
            if inboundReject {
                #expect(full == .dropped, "\(flow)")
            }
            if !closedInMinimal && !inboundReject {
                #expect(minimal == full, "\(flow)")
            }
        }
        let policyToOutcome: [PathMatrix.Policy: PathMatrix.Outcome] = [.allow: .delivered, .drop: .dropped, .reject: .rejected]
        for flow in PathMatrix.flows where flow.path != .spoof && flow.note.isEmpty {
            let closedInMinimal = !flow.destinationDeclared && [.routedVnet, .routedOutside, .nodeToGuest].contains(flow.path)
            guard !closedInMinimal else { continue }
            #expect(PathMatrix.intent(of: flow, in: .minimal) == policyToOutcome[flow.policy], "\(flow)")
        }
    }
}
