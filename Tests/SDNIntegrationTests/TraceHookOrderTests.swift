import Foundation
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNetns
import SDNTesting
import Testing

/// `sdn trace` walks the hooks the kernel walks: a probe ruleset with a base chain on every bridge and
/// inet hook (some hooks at two priorities) is loaded into a lab node, real pings are sent, and the
/// chains `nft monitor trace` reports, in order and with their input and output interfaces, are the
/// chains the interpreter finds on `TraceScenario`'s legs. With br_netfilter on (the `minimal`
/// layout's kernel path) and off (the `full` layout's).
@Suite(.serialized, .systemTest(tools: ["ip", "nft", "ping"]))
struct TraceHookOrderTests {
    /// A chain on every hook; the prerouting and forward hooks have one below and one above
    /// br_netfilter's priority. The first chains on prerouting and output mark echo requests for tracing.
    static let probe = """
        table bridge sdnprobe {
          chain b_pre_early { type filter hook prerouting priority -300; icmp type echo-request meta nftrace set 1; }
          chain b_pre_late { type filter hook prerouting priority 100; }
          chain b_input { type filter hook input priority 0; }
          chain b_fwd_early { type filter hook forward priority -10; }
          chain b_fwd_late { type filter hook forward priority 10; }
          chain b_output { type filter hook output priority 0; icmp type echo-request meta nftrace set 1; }
          chain b_post { type filter hook postrouting priority 0; }
        }
        table inet sdnprobe {
          chain i_pre { type filter hook prerouting priority -300; icmp type echo-request meta nftrace set 1; }
          chain i_input { type filter hook input priority 0; }
          chain i_fwd { type filter hook forward priority 0; }
          chain i_output { type filter hook output priority 0; icmp type echo-request meta nftrace set 1; }
          chain i_post { type filter hook postrouting priority 0; }
        }
        """

    /// One chain entry: `bridge b_pre_early iif=tap101i0 oif=-`.
    static func entry(family: String, chain: String, iif: String?, oif: String?) -> String {
        "\(family) \(chain) iif=\(iif ?? "-") oif=\(oif ?? "-")"
    }

    /// The chains the kernel ran for the echo request (one is sent), from `nft monitor trace` output. Its
    /// trace id changes where the bridge passes the frame up to the IP stack, so every id counts.
    static func observed(_ monitor: String) -> [String] {
        var entries: [String] = []
        for line in monitor.split(separator: "\n") where line.contains(" packet: ") && line.contains("echo-request") {
            let words = line.split(separator: " ").map(String.init)
            // trace id ID FAMILY TABLE CHAIN packet: …
            guard words.count > 6, words[0] == "trace", words[1] == "id" else { continue }
            func value(after key: String) -> String? {
                words.firstIndex(of: key).flatMap { $0 + 1 < words.count ? words[$0 + 1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : nil }
            }
            entries.append(entry(family: words[3], chain: words[5], iif: value(after: "iif"), oif: value(after: "oif")))
        }
        return entries
    }

    /// Runs `send` while `nft monitor trace` listens in the node.
    static func monitor(_ lab: TrafficLab, _ send: () throws -> Void) throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-trace-monitor-\(getpid())")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let monitor = Process()
        monitor.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        monitor.arguments = ["netns", "exec", lab.node.name!, "nft", "monitor", "trace"]
        monitor.standardOutput = try FileHandle(forWritingTo: output)
        monitor.standardError = FileHandle.nullDevice
        try monitor.run()
        Thread.sleep(forTimeInterval: 0.5)
        try send()
        Thread.sleep(forTimeInterval: 0.5)
        kill(monitor.processIdentifier, SIGKILL)
        monitor.waitUntilExit()
        return try String(contentsOf: output, encoding: .utf8)
    }

    @Test(arguments: [("minimal", KernelFeatures.minimal), ("full", KernelFeatures.full)])
    func traceLegsMeetTheChainsTheKernelRuns(_ layout: (name: String, features: KernelFeatures)) throws {
        let lab = try TrafficLab(try TrafficLab.fixture("traffic"))
        defer { lab.teardown() }
        let node = lab.node.name!
        // The full layout runs without br_netfilter: bridged frames then meet no IP hook.
        let brNetfilter = layout.features.guestMode == .brNetfilter ? "1" : "0"
        let sysctl = try Shell.run(["ip", "netns", "exec", node, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=\(brNetfilter)"])
        try #require(sysctl.status == 0, "cannot set bridge-nf-call-iptables in the lab's namespace: \(sysctl.stderr)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-trace-probe-\(getpid()).nft")
        try Self.probe.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try Shell.output(["ip", "netns", "exec", node, "nft", "-f", file.path])
        let probeRuleset = Self.probeRuleset

        let cases: [(name: String, from: TraceScenario.Endpoint, to: String, send: () throws -> Void)] = [
            ("bridged 102 → 101", .guest(id: 102, nic: 0), "10.1.0.11", { _ = try lab.pings(from: 102, to: try IPAddress("10.1.0.11")) }),
            ("routed 102 → 201", .guest(id: 102, nic: 0), "10.2.0.21", { _ = try lab.pings(from: 102, to: try IPAddress("10.2.0.21")) }),
            ("102 → the node", .guest(id: 102, nic: 0), "10.2.0.1", { _ = try lab.pings(from: 102, to: try IPAddress("10.2.0.1")) }),
            ("the node → 101", .node, "10.1.0.11", { _ = try Shell.run(["ip", "netns", "exec", node, "ping", "-c", "1", "-W", "1", "10.1.0.11"]) }),
        ]
        let interpreter = PacketInterpreter(ruleset: probeRuleset)
        for flow in cases {
            let observed = Self.observed(try Self.monitor(lab, flow.send))
            let legs = try TraceScenario.legs(from: flow.from, to: .address(try IPAddress(flow.to)), service: .ping, state: .new,
                                              in: lab.state, node: "lab", features: layout.features)
            let expected = legs.flatMap { leg in
                interpreter.baseChains(for: leg.packet, at: leg.hook).map { table, chain in
                    Self.entry(family: table.family.rawValue, chain: chain.name, iif: leg.packet.iifname, oif: leg.packet.oifname)
                }
            }
            #expect(!observed.isEmpty, "\(layout.name) \(flow.name): nft monitor trace saw nothing")
            #expect(observed == expected, "\(layout.name) \(flow.name)")
        }
    }

    /// The probe ruleset as our IR, for the interpreter to find the chains on each leg.
    static var probeRuleset: Ruleset {
        func base(_ name: String, _ hook: BaseChain.Hook, _ priority: Int) -> Chain {
            Chain(name: name, base: BaseChain(type: .filter, hook: hook, priority: priority))
        }
        return Ruleset(tables: [
            Table(family: .bridge, name: "sdnprobe", chains: [
                base("b_pre_early", .prerouting, -300), base("b_pre_late", .prerouting, 100), base("b_input", .input, 0),
                base("b_fwd_early", .forward, -10), base("b_fwd_late", .forward, 10), base("b_output", .output, 0), base("b_post", .postrouting, 0),
            ]),
            Table(family: .inet, name: "sdnprobe", chains: [
                base("i_pre", .prerouting, -300), base("i_input", .input, 0), base("i_fwd", .forward, 0), base("i_output", .output, 0),
                base("i_post", .postrouting, 0),
            ]),
        ])
    }
}
