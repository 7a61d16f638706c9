import Foundation
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNetns
import SDNTesting
import Testing

/// Real packets between namespace guests on real bridges, filtered by the compiled policy: every flow
/// arrives or not exactly as the policy intends, and exactly as `sdn trace` predicts.
@Suite(.serialized, .systemTest(tools: ["ip", "nft", "nc", "ping", "timeout"]))
struct TrafficTests {
    struct Flow: CustomTestStringConvertible {
        enum Kind { case tcp, udp, ping }
        var name: String
        var kind: Kind
        var from: Int
        var to: Int
        var address: String
        var port: UInt16 = 0
        var intended: Bool
        var testDescription: String { name }
    }

    static let flows: [Flow] = [
        Flow(name: "client → web tcp/80 (webserver group)", kind: .tcp, from: 102, to: 101, address: "10.1.0.11", port: 80, intended: true),
        Flow(name: "client → web tcp/22 (policy-in drop)", kind: .tcp, from: 102, to: 101, address: "10.1.0.11", port: 22, intended: false),
        Flow(name: "client → web udp/5353 (allowed from client)", kind: .udp, from: 102, to: 101, address: "10.1.0.11", port: 5353, intended: true),
        Flow(name: "db → web udp/5353 (only from client)", kind: .udp, from: 103, to: 101, address: "10.1.0.11", port: 5353, intended: false),
        Flow(name: "client → web ping (Ping macro)", kind: .ping, from: 102, to: 101, address: "10.1.0.11", intended: true),
        Flow(name: "web → db tcp/5432 (from web only)", kind: .tcp, from: 101, to: 103, address: "10.1.0.13", port: 5432, intended: true),
        Flow(name: "client → db tcp/5432 (rejected)", kind: .tcp, from: 102, to: 103, address: "10.1.0.13", port: 5432, intended: false),
        Flow(name: "web → client tcp/9000 (client policy-in drop)", kind: .tcp, from: 101, to: 102, address: "10.1.0.12", port: 9000, intended: false),
        Flow(name: "client → dmz tcp/443 (routed, allowed from lan)", kind: .tcp, from: 102, to: 201, address: "10.2.0.21", port: 443, intended: true),
        Flow(name: "client → dmz tcp/8080 (routed, dropped)", kind: .tcp, from: 102, to: 201, address: "10.2.0.21", port: 8080, intended: false),
        Flow(name: "client → web tcp/8443 (client out drop)", kind: .tcp, from: 102, to: 101, address: "10.1.0.11", port: 8443, intended: false),
    ]

    /// Applies the compiled ruleset to the lab's node namespace.
    static func applyFirewall(_ lab: TrafficLab, features: KernelFeatures) throws {
        if features.guestMode == .brNetfilter {
            for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
                _ = try Shell.run(["ip", "netns", "exec", lab.node.name!, "sysctl", "-qw", "net.bridge.\(key)=1"])
            }
        }
        let compiled = FirewallCompiler.compile(lab.validated, node: "lab", features: features)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdnlab-\(getpid()).nft")
        try NFTTextRenderer.render(compiled.ruleset, replacing: true).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Shell.run(["ip", "netns", "exec", lab.node.name!, "nft", "-f", file.path])
        guard result.status == 0 else { throw LabError("nft -f failed: \(result.stderr)") }
    }

    /// What `sdn trace` says about a flow.
    static func predicted(_ flow: Flow, lab: TrafficLab, features: KernelFeatures) throws -> Bool {
        let service: TraceScenario.Service = switch flow.kind {
        case .tcp: .init(proto: .tcp, port: flow.port)
        case .udp: .init(proto: .udp, port: flow.port)
        case .ping: .init(proto: .icmp, icmpType: 8)
        }
        let legs = try TraceScenario.legs(from: .guest(id: flow.from, nic: 0), to: .address(try IPAddress(flow.address)), service: service,
                                          state: .new, in: lab.state, node: "lab", features: features)
        let interpreter = PacketInterpreter(ruleset: FirewallCompiler.compile(lab.validated, node: "lab", features: features).ruleset)
        for leg in legs where try interpreter.trace(leg.packet, at: leg.hook).verdict != .accept { return false }
        return true
    }

    @Test func flowsArriveExactlyAsPolicyAndTraceSay() throws {
        let features = detectedKernelFeatures
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        try Self.applyFirewall(lab, features: features)
        for flow in Self.flows {
            let address = try IPAddress(flow.address)
            let observed: Bool = switch flow.kind {
            case .tcp: try lab.tcpConnects(from: flow.from, to: flow.to, address: address, port: flow.port)
            case .udp: try lab.udpArrives(from: flow.from, to: flow.to, address: address, port: flow.port)
            case .ping: try lab.pings(from: flow.from, to: address)
            }
            let prediction = try Self.predicted(flow, lab: lab, features: features)
            #expect(prediction == flow.intended, "sdn trace disagrees with the policy for \(flow.name)")
            #expect(observed == flow.intended, "the kernel disagrees with the policy for \(flow.name) (observed \(observed ? "arrived" : "blocked"))")
        }
    }

    @Test func spoofedSourceAddressIsDroppedAndCounted() throws {
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        try Self.applyFirewall(lab, features: detectedKernelFeatures)
        let web = try IPAddress("10.1.0.11")
        #expect(try lab.pings(from: 102, to: web), "the genuine address must pass")
        let before = try lab.counter(ofRule: "guest-102-net0-spoof/ipfilter-v4")
        _ = try Shell.run(["ip", "-n", lab.namespace(ofGuest: 102).name!, "addr", "add", "10.1.0.99/24", "dev", "eth0"])
        #expect(try !lab.pings(from: 102, to: web, sourceAddress: try IPAddress("10.1.0.99")), "a forged source address must not pass")
        #expect(try lab.counter(ofRule: "guest-102-net0-spoof/ipfilter-v4") > before)
    }

    @Test func spoofedSourceMACIsDroppedAndCounted() throws {
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        try Self.applyFirewall(lab, features: detectedKernelFeatures)
        let web = try IPAddress("10.1.0.11")
        let before = try lab.counter(ofRule: "guest-102-net0-spoof/macfilter")
        let client = lab.namespace(ofGuest: 102).name!
        _ = try Shell.run(["ip", "-n", client, "link", "set", "eth0", "address", "52:54:00:00:09:99"])
        _ = try Shell.run(["ip", "-n", client, "neigh", "flush", "all"])
        #expect(try !lab.pings(from: 102, to: web), "a forged source MAC must not pass")
        #expect(try lab.counter(ofRule: "guest-102-net0-spoof/macfilter") > before)
    }

    /// Broadcast frames name no guest by MAC or address: each receiving port's inbound rules judge them
    /// (in `minimal` a stateless copy on bridge postrouting), from a guest and from the node alike.
    @Test func broadcastsReachOnlyGuestsWhosePolicyAllowsThem() throws {
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        try Self.applyFirewall(lab, features: detectedKernelFeatures)
        // 101 accepts udp/5353 from 10.1.0.12 (the client); 103 has no such rule.
        func received(by guest: Int, port: UInt16, send: () throws -> Void) throws -> Bool {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("sdnlab-bcast-\(getpid())-\(guest)-\(port)")
            defer { try? FileManager.default.removeItem(at: output) }
            let listener = Process()
            listener.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            listener.arguments = ["netns", "exec", lab.namespace(ofGuest: guest).name!, "python3", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("", \(port))); s.settimeout(2)
                try:
                    s.recvfrom(100); open(sys.argv[1], "w").write("received")
                except OSError:
                    pass
                """, output.path]
            try listener.run()
            Thread.sleep(forTimeInterval: 0.5)
            try send()
            listener.waitUntilExit()
            return (try? String(contentsOf: output, encoding: .utf8)) == "received"
        }
        func broadcaster(port: UInt16) -> [String] {
            ["python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); [s.sendto(b'x', ('10.1.0.255', \(port))) for _ in range(3)]"]
        }
        let fromClient = { (port: UInt16) in { () throws in _ = try lab.run(broadcaster(port: port), inGuest: 102) } }
        let fromNode = { (port: UInt16) in { () throws in _ = try Shell.run(["ip", "netns", "exec", lab.node.name!] + broadcaster(port: port)) } }
        #expect(try received(by: 101, port: 5353, send: fromClient(5353)), "101 allows udp/5353 from the client")
        #expect(try !received(by: 103, port: 5353, send: fromClient(5353)), "103's policy-in has no rule for it")
        #expect(try !received(by: 101, port: 5354, send: fromClient(5354)), "101's policy-in drops other ports")
        // From the node (source 10.1.0.1, not the client): 101's rule does not match.
        #expect(try !received(by: 101, port: 5353, send: fromNode(5353)), "the node's broadcast meets 101's inbound rules too")
    }

    @Test func repliesToAllowedConnectionsPassStatefully() throws {
        // web's policy-in drops new connections to it on 9000, but the reply to client's own connection
        // out to web:80 comes back through client's inbound chain only because conntrack knows it.
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        try Self.applyFirewall(lab, features: detectedKernelFeatures)
        let family = detectedKernelFeatures.guestMode == .brNetfilter ? "inet" : "bridge"
        let droppedBefore = try lab.counter(ofRule: "guest-102-net0-in/policy", family: family)
        #expect(try lab.tcpConnects(from: 102, to: 101, address: try IPAddress("10.1.0.11"), port: 80))
        // The SYN-ACK reached the client: its inbound default drop saw nothing of this connection.
        #expect(try lab.counter(ofRule: "guest-102-net0-in/policy", family: family) == droppedBefore)
        // And a new connection towards the client on the same port is refused.
        #expect(try !lab.tcpConnects(from: 101, to: 102, address: try IPAddress("10.1.0.12"), port: 80))
        #expect(try lab.counter(ofRule: "guest-102-net0-in/policy", family: family) > droppedBefore)
    }
}
