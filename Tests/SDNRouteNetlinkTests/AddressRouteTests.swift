import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// Addresses and main-table routes, checked with `ip -j addr` / `ip -j route`.
@Suite("NetlinkLinks addresses and routes", .systemTest(tools: ["ip"]))
struct AddressRouteTests {
    /// A veth pair with both ends up, so routes through it have a live next hop.
    static func upLink(_ lab: LinkLab) async throws {
        try await lab.perform(
            .createLink(LinkSpec(name: "uplink", kind: .veth(VethLinkSettings(peer: "uplinkp")))),
            .setUp(name: "uplink", up: true),
            .setUp(name: "uplinkp", up: true)
        )
    }

    @Test func addressesBothFamilies() async throws {
        try await LinkLab.run { lab in
            try await Self.upLink(lab)
            let v4 = AddressSpec(interface: "uplink", prefix: prefix("10.0.0.1/24"))
            let v6 = AddressSpec(interface: "uplink", prefix: prefix("fd00:1::1/64"))
            try await lab.perform(.addAddress(v4), .addAddress(v6))
            let shown = try lab.json("ip", "addr", "show", "dev", "uplink").first?["addr_info"] as? [[String: Any]] ?? []
            let texts = Set(shown.compactMap { entry -> String? in
                guard let local = entry["local"] as? String, let length = entry["prefixlen"] as? Int else { return nil }
                return "\(local)/\(length)"
            })
            #expect(texts.contains("10.0.0.1/24"))
            #expect(texts.contains("fd00:1::1/64"))

            let observed = try await lab.links.observe()
            let ours = observed.addresses.filter { $0.interface == "uplink" }
            // The kernel's own fe80:: address is not reported.
            #expect(ours == [v4, v6])

            try await lab.perform(.deleteAddress(v4), .deleteAddress(v6))
            let after = try await lab.links.observe()
            #expect(after.addresses.filter { $0.interface == "uplink" }.isEmpty)
            let again = await lab.failure(of: .deleteAddress(v4))
            #expect(again?.errno == EADDRNOTAVAIL)
        }
    }

    @Test func routesWithOurProtocol() async throws {
        try await LinkLab.run { lab in
            try await Self.upLink(lab)
            try await lab.perform(
                .addAddress(AddressSpec(interface: "uplink", prefix: prefix("10.0.0.1/24"))),
                .addAddress(AddressSpec(interface: "uplink", prefix: prefix("fd00:1::1/64")))
            )
            let viaGateway = RouteSpec(destination: prefix("10.9.0.0/16"), gateway: address("10.0.0.254"), interface: "uplink")
            let onLink = RouteSpec(destination: prefix("10.8.0.0/24"), interface: "uplink", metric: 50)
            let defaultRoute = RouteSpec(destination: prefix("0.0.0.0/0"), gateway: address("10.0.0.254"))
            let v6 = RouteSpec(destination: prefix("fd00:9::/48"), gateway: address("fd00:1::fe"), interface: "uplink", metric: 1024)
            try await lab.perform(.addRoute(viaGateway), .addRoute(onLink), .addRoute(defaultRoute), .addRoute(v6))

            let v4Shown = try lab.json("ip", "route", "show", "proto", "211")
            #expect(Set(v4Shown.compactMap { $0["dst"] as? String }) == ["10.9.0.0/16", "10.8.0.0/24", "default"])
            #expect(v4Shown.first { $0["dst"] as? String == "10.8.0.0/24" }?["scope"] as? String == "link")
            let v6Shown = try lab.json("ip", "-6", "route", "show", "proto", "211")
            #expect(v6Shown.compactMap { $0["dst"] as? String } == ["fd00:9::/48"])

            let observed = try await lab.links.observe()
            let ours = observed.routes.filter { $0.protocol == RouteSpec.ownProtocol }
            // The default route went out of the gateway's interface: the kernel names it.
            var expectedDefault = defaultRoute
            expectedDefault.interface = "uplink"
            #expect(Set(ours) == [viaGateway, onLink, expectedDefault, v6])
            // Connected routes (proto kernel) are not reported.
            #expect(!observed.routes.contains { $0.destination == prefix("10.0.0.0/24") })

            try await lab.perform(.deleteRoute(viaGateway), .deleteRoute(v6))
            let after = try await lab.links.observe()
            #expect(Set(after.routes.filter { $0.protocol == RouteSpec.ownProtocol }) == [onLink, expectedDefault])
            let existing = await lab.failure(of: .addRoute(onLink))
            #expect(existing?.errno == EEXIST)
        }
    }
}
