import Foundation
import Glibc
import SDNConfig
import SDNDataplane
import SDNModel
import SDNNetns
import SDNHostNetwork
import SDNReconciler
import SDNRouteNetlink
import SDNTesting
import Testing

/// IPv6 routing between vnets, with real packets: a node namespace, guests as namespaces, the links
/// applied through netlink by the planner, and a router namespace that sends router advertisements
/// (from a raw ICMPv6 socket) to the node's uplink. Links only: no firewall is loaded, so what decides
/// is the kernel's forwarding and router-advertisement handling.
@Suite(.serialized, .systemTest(tools: ["ip", "ping", "sysctl", "nstat"], linkKinds: ["bridge", "veth"]))
struct IPv6RoutingTests {
    /// `sdntest-<pid>-…`: a killed run's namespaces are removed by the next test run.
    let prefix = "sdntest-\(getpid())-v6"
    let names = ["node", "rtr", "g101", "g102"]

    func name(_ suffix: String) -> String { "\(prefix)-\(suffix)" }
    func namespace(_ suffix: String) throws -> NetworkNamespace { try NetworkNamespace.named(name(suffix)) }

    func ip(_ arguments: String...) throws { try Shell.output(["ip"] + arguments) }

    func sysctl(_ key: String, in suffix: String) throws -> String {
        try Shell.output(["sysctl", "-n", key], in: namespace(suffix)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func setSysctl(_ assignment: String, in suffix: String) throws {
        try Shell.output(["sysctl", "-qw", assignment], in: namespace(suffix))
    }

    func teardown() {
        for suffix in names { _ = try? Shell.run(["ip", "netns", "delete", name(suffix)]) }
    }

    /// A node namespace (with `eth0`, its uplink, whose other end `rtr0` is in a router namespace) and
    /// one namespace per guest, plugged as LXC does: `veth<vmid>i0` on the node, `eth0` in the guest.
    func buildLab(_ validated: Validated<DesiredState>) throws {
        for suffix in names {
            _ = try NetworkNamespace.create(named: name(suffix))
            try ip("-n", name(suffix), "link", "set", "lo", "up")
        }
        // No duplicate address detection on the lab's own ends: addresses are usable at once.
        try setSysctl("net.ipv6.conf.default.accept_dad=0", in: "rtr")
        try ip("-n", name("node"), "link", "add", "eth0", "type", "veth", "peer", "name", "rtr0", "netns", name("rtr"))
        try ip("-n", name("node"), "link", "set", "eth0", "up")
        try ip("-n", name("rtr"), "link", "set", "rtr0", "up")
        for guest in validated.value.guests {
            let nic = try #require(guest.nics.first)
            let guestName = name("g\(guest.id)")
            try setSysctl("net.ipv6.conf.default.accept_dad=0", in: "g\(guest.id)")
            try ip("-n", name("node"), "link", "add", "veth\(guest.id)i0", "type", "veth", "peer", "name", "eth0", "netns", guestName)
            try ip("-n", guestName, "link", "set", "eth0", "address", try #require(nic.mac).description)
            for address in nic.ips {
                try ip("-n", guestName, "addr", "add", "\(address.address)/\(address.address.family == .ipv4 ? 24 : 64)", "dev", "eth0")
            }
            try ip("-n", guestName, "link", "set", "eth0", "up")
            guard case .vnet(let vnetName) = nic.attachment, let vnet = validated.value.vnet(named: vnetName) else { continue }
            for gateway in vnet.subnets.compactMap(\.gateway) {
                try ip("-n", guestName, gateway.family == .ipv4 ? "-4" : "-6", "route", "add", "default", "via", gateway.description)
            }
        }
    }

    /// Plans the node's links against what its kernel holds and applies the plan; returns the plan.
    @discardableResult
    func apply(_ validated: Validated<DesiredState>) async throws -> Plan {
        let links = try NetlinkLinks(namespace: try namespace("node"))
        let desired = NodeNetworkBuilder.build(validated, node: "lab")
        let plan = Planner.plan(desired: desired, observed: try await links.observe(desired.observationScope))
        #expect(plan.conflicts.isEmpty, "\(plan.conflicts)")
        _ = try await Applier(links: links).apply(plan)
        return plan
    }

    /// What a second plan against the node's kernel would do (drift, as `sdn diff` shows it).
    func pendingPlan(_ validated: Validated<DesiredState>) async throws -> Plan {
        let links = try NetlinkLinks(namespace: try namespace("node"))
        let desired = NodeNetworkBuilder.build(validated, node: "lab")
        return Planner.plan(desired: desired, observed: try await links.observe(desired.observationScope))
    }

    /// Whether `from` reaches `address`, trying for up to about `seconds` (the gateway's own address may
    /// still be tentative right after the apply).
    func pings(from guest: String, _ address: String, seconds: Int = 6) throws -> Bool {
        let family = address.contains(":") ? "-6" : "-4"
        for _ in 0..<seconds {
            if try Shell.run(["ping", family, "-c", "1", "-W", "1", address], in: namespace(guest)).status == 0 { return true }
        }
        return false
    }

    func ip6InAddrErrors() throws -> Int {
        let line = try Shell.output(["nstat", "-az", "Ip6InAddrErrors"], in: namespace("node"))
            .split(separator: "\n").first { $0.hasPrefix("Ip6InAddrErrors") }
        return line.flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) } ?? 0
    }

    /// The node's default IPv6 route learned from an advertisement on eth0 (`proto ra`), if any.
    func raDefaultRoute() throws -> String? {
        let routes = try Shell.output(["ip", "-6", "route", "show", "default"], in: namespace("node"))
        return routes.split(separator: "\n").map(String.init).first { $0.contains("proto ra") && $0.contains("dev eth0") }
    }

    /// Waits up to about two seconds for the RA default route to be there (or gone).
    func waitForRADefaultRoute(present: Bool) throws -> Bool {
        for _ in 0..<20 {
            if try (raDefaultRoute() != nil) == present { return true }
            usleep(100_000)
        }
        return false
    }

    // MARK: - Tests

    /// Two guests on two vnets with IPv6 subnets ping each other through the node once the plan is
    /// applied; with the node-wide switch off again (per-interface switches still on) the kernel drops
    /// the routed packets (Ip6InAddrErrors), the drift is planned, and applying routes again. IPv4
    /// routes with the per-interface switches alone: `net.ipv4.ip_forward` stays 0.
    @Test func guestsOnTwoVNetsPingOverIPv6ThroughTheNode() async throws {
        teardown()
        defer { teardown() }
        let validated = try TrafficLab.fixture("ipv6-routing")
        try buildLab(validated)
        #expect(try !pings(from: "g101", "fd32::12", seconds: 1), "nothing routes before the apply")

        let plan = try await apply(validated)
        let rendered = PlanRenderer.render(plan)
        #expect(rendered.contains("set ipv6 forwarding on (all interfaces)"), "\(rendered)")
        #expect(try sysctl("net.ipv6.conf.all.forwarding", in: "node") == "1")
        let second = try await pendingPlan(validated)
        #expect(second.isEmpty, "a second apply would write: \(PlanRenderer.render(second))")

        #expect(try pings(from: "g101", "fd32::12"), "web → app over IPv6, routed by the node")
        #expect(try pings(from: "g102", "fd31::11"), "app → web over IPv6, routed by the node")
        #expect(try pings(from: "g101", "10.32.0.12"), "web → app over IPv4")
        #expect(try sysctl("net.ipv4.ip_forward", in: "node") == "0", "IPv4 routes with the vnet bridges' own switches")

        // The bug this fixes, shown on the kernel: per-interface IPv6 switches alone do not route.
        try setSysctl("net.ipv6.conf.all.forwarding=0", in: "node")
        for bridge in ["web", "app"] { try setSysctl("net.ipv6.conf.\(bridge).forwarding=1", in: "node") }
        let droppedBefore = try ip6InAddrErrors()
        #expect(try !pings(from: "g101", "fd32::12", seconds: 1), "the kernel routed IPv6 without net.ipv6.conf.all.forwarding")
        #expect(try ip6InAddrErrors() > droppedBefore, "the routed packet was not counted as Ip6InAddrErrors")
        #expect(try pings(from: "g101", "10.32.0.12", seconds: 1), "IPv4 is unaffected")

        let drift = try await pendingPlan(validated)
        #expect(drift.steps.map(\.action) == [.link(.setNodeForwarding(NodeForwardingSetting(family: .ipv6, enabled: true)))],
                "\(PlanRenderer.render(drift))")
        try await apply(validated)
        #expect(try pings(from: "g101", "fd32::12"), "routing again after the drift is repaired")
    }

    /// A node that learns its default route from router advertisements on its uplink keeps it when the
    /// apply turns IPv6 forwarding on (accept_ra 2 goes first), and learns it again from a new
    /// advertisement while forwarding. With accept_ra left at 1 the same kernel drops the route at the
    /// next forwarding write and ignores new advertisements: the test would fail without the step.
    @Test func theUplinkKeepsItsSLAACDefaultRouteWhenTheNodeStartsForwarding() async throws {
        teardown()
        defer { teardown() }
        let validated = try TrafficLab.fixture("ipv6-routing")
        try buildLab(validated)
        #expect(try sysctl("net.ipv6.conf.eth0.accept_ra", in: "node") == "1", "the uplink starts as a host would")

        try sendRouterAdvertisement()
        #expect(try waitForRADefaultRoute(present: true), "the node did not learn its default route from the advertisement")

        let plan = try await apply(validated)
        #expect(try raDefaultRoute() != nil, "the apply dropped the SLAAC default route:\n\(PlanRenderer.render(plan))")
        #expect(try sysctl("net.ipv6.conf.all.forwarding", in: "node") == "1")
        #expect(try sysctl("net.ipv6.conf.eth0.forwarding", in: "node") == "1", "the uplink forwards too now")
        #expect(try sysctl("net.ipv6.conf.eth0.accept_ra", in: "node") == "2")

        let actions = plan.steps.map(\.action)
        let keepAdvertisements = PlanStep.Action.link(.setRouterAdvertisements(RouterAdvertisementSetting(interface: "eth0", acceptRA: 2)))
        let acceptRA = actions.firstIndex(of: keepAdvertisements) ?? actions.count
        let firstIPv6Forwarding = actions.firstIndex { action in
            switch action {
            case .link(.setForwarding(let setting)): setting.family == .ipv6 && setting.enabled
            case .link(.setNodeForwarding(let setting)): setting.family == .ipv6 && setting.enabled
            default: false
            }
        } ?? -1
        #expect(acceptRA < firstIPv6Forwarding, "accept_ra 2 must come before any IPv6 forwarding write:\n\(PlanRenderer.render(plan))")
        #expect(plan.steps.first { $0.action == keepAdvertisements }?.undo == [.link(.setRouterAdvertisements(RouterAdvertisementSetting(interface: "eth0", acceptRA: 1)))])
        #expect(try await pendingPlan(validated).isEmpty)

        // Forgotten and learned again: advertisements are still taken while the node forwards.
        try Shell.output(["ip", "-6", "route", "flush", "default", "proto", "ra"], in: namespace("node"))
        #expect(try waitForRADefaultRoute(present: false))
        try sendRouterAdvertisement()
        #expect(try waitForRADefaultRoute(present: true), "a new advertisement was ignored while forwarding with accept_ra 2")

        // The same kernel with accept_ra at 1: a forwarding write drops the route, and a new
        // advertisement does not bring it back.
        try setSysctl("net.ipv6.conf.eth0.accept_ra=1", in: "node")
        try setSysctl("net.ipv6.conf.all.forwarding=1", in: "node")
        #expect(try waitForRADefaultRoute(present: false), "the kernel kept the RA route of an accept_ra 1 interface across a forwarding write")
        try sendRouterAdvertisement()
        usleep(500_000)
        #expect(try raDefaultRoute() == nil, "the kernel took an advertisement on a forwarding interface with accept_ra 1")

        // That is drift sdn reports and repairs.
        let drift = try await pendingPlan(validated)
        #expect(drift.steps.map(\.action) == [.link(.setRouterAdvertisements(RouterAdvertisementSetting(interface: "eth0", acceptRA: 2)))],
                "\(PlanRenderer.render(drift))")
        try await apply(validated)
        try sendRouterAdvertisement()
        #expect(try waitForRADefaultRoute(present: true))
    }

    // MARK: - Router advertisements

    /// Sends one router advertisement (router lifetime 1800 s, prefix 2001:db8:1::/64 for SLAAC) from
    /// `rtr0` in the router namespace to all nodes, through a raw ICMPv6 socket (the kernel fills in
    /// the checksum and the link-local source; hop limit 255, as receivers require).
    func sendRouterAdvertisement() throws {
        // Right after rtr0 comes up it has no link-local address or multicast route yet: try for a while.
        var status: Int32 = 0
        for _ in 0..<30 {
            status = try sendRouterAdvertisementOnce()
            guard status == ENETUNREACH || status == EADDRNOTAVAIL else { break }
            usleep(100_000)
        }
        if status != 0 { throw LabError("sending a router advertisement failed: \(String(cString: strerror(status)))") }
    }

    /// One attempt; returns 0 or the errno.
    func sendRouterAdvertisementOnce() throws -> Int32 {
        try namespace("rtr").run { () -> Int32 in
            let descriptor = socket(AF_INET6, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMPV6))
            guard descriptor >= 0 else { return errno }
            defer { close(descriptor) }
            var interface = if_nametoindex("rtr0")
            guard interface != 0 else { return ENODEV }
            var hops: Int32 = 255
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, &hops, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, &interface, socklen_t(MemoryLayout<UInt32>.size))
            func bigEndian32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
            let routerLifetime: UInt16 = 1800
            // Type 134, code 0, checksum (kernel), cur hop limit 64, flags 0, router lifetime, reachable, retrans.
            var packet: [UInt8] = [134, 0, 0, 0, 64, 0, UInt8(routerLifetime >> 8), UInt8(routerLifetime & 0xff)] + bigEndian32(0) + bigEndian32(0)
            // Prefix information: type 3, length 4 (32 bytes), /64, on-link + autonomous, lifetimes, prefix.
            packet += [3, 4, 64, 0xc0] + bigEndian32(86400) + bigEndian32(14400) + bigEndian32(0)
            packet += [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0] + [UInt8](repeating: 0, count: 8)
            var destination = sockaddr_in6()
            destination.sin6_family = sa_family_t(AF_INET6)
            destination.sin6_scope_id = interface
            withUnsafeMutableBytes(of: &destination.sin6_addr) { bytes in
                bytes[0] = 0xff
                bytes[1] = 0x02
                bytes[15] = 0x01
            }
            let sent = packet.withUnsafeBytes { bytes in
                withUnsafePointer(to: &destination) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            return sent == packet.count ? 0 : errno
        }
    }
}
