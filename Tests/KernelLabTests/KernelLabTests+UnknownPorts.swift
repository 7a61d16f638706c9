import Foundation
import SDNTesting
import Testing

/// Unknown ports (issue 11, part 3) with real packets, in both layouts, on Debian's kernel: this
/// machine's kernel has no nft_meta_bridge, without which the drop cannot tell a vnet bridge's port
/// from another bridge's (docs/firewall-paths.md, "Unknown ports"). The fixture
/// `Fixtures/unknown-ports` is applied with the real `sdn apply` (the layout probed in the node's
/// namespace); an undeclared veth is plugged into each vnet bridge by hand, as a hypervisor that
/// nobody told would. On `web` (strict) it passes nothing in either direction — IPv4, IPv6, ARP and
/// neighbour discovery, broadcast — and the drop counters grow; the declared guest beside it passes;
/// on `v20` the node's own VLAN port carries the outside host's traffic to the declared guest while
/// the undeclared port there is cut off; on `open` (`unknown-ports: accept`) the undeclared port passes.
/// `sdn trace`, run in the lab against the same kernel, gives the kernel's verdicts.
extension KernelLabTests {
    enum UnknownPortLayout: String, CaseIterable, Sendable {
        /// Bridge conntrack: `table bridge sdn` holds the guests' chains.
        case full
        /// br_netfilter with nft_meta_bridge but no bridge conntrack: `table inet sdn` holds them.
        case minimal
    }

    /// A listener or sender of the lab: its namespace suffix, and for an undeclared port its port name,
    /// MAC, addresses and bridge.
    struct Rogue {
        var id: Int
        var port: String
        var mac: String
        var v4: String
        var v6: String
        var bridge: String
    }

    static let rogues = [
        Rogue(id: 999, port: "tap999i0", mac: "02:99:00:00:09:99", v4: "10.71.0.99", v6: "fd71::99", bridge: "web"),
        Rogue(id: 998, port: "tap998i0", mac: "02:99:00:00:09:98", v4: "10.72.0.98", v6: "fd72::98", bridge: "open"),
        Rogue(id: 997, port: "tap997i0", mac: "02:99:00:00:09:97", v4: "10.73.0.97", v6: "fd73::97", bridge: "v20"),
    ]
    /// The declared guests: id, port, MAC, addresses, gateways (none on v20: the node has no address there).
    static let declared: [(id: Int, port: String, mac: String, v4: String, v6: String, gateway: (String, String)?)] = [
        (101, "tap101i0", "52:54:00:71:01:01", "10.71.0.11", "fd71::11", ("10.71.0.1", "fd71::1")),
        (102, "veth102i0", "52:54:00:72:01:02", "10.72.0.12", "fd72::12", ("10.72.0.1", "fd72::1")),
        (103, "veth103i0", "52:54:00:73:01:03", "10.73.0.13", "fd73::13", nil),
    ]
    static let outsideMAC = "02:99:00:00:00:02"

    /// TCP flows: id, sender namespace, destination, whether it must connect.
    static let unknownPortFlows: [(id: String, from: String, to: String, connects: Bool, what: String)] = [
        ("u01", "g999", "10.71.0.1", false, "undeclared port → node (IPv4)"),
        ("u02", "g999", "fd71::1", false, "undeclared port → node (IPv6)"),
        ("u03", "g999", "10.71.0.11", false, "undeclared port → declared guest 101 (IPv4)"),
        ("u04", "g999", "fd71::11", false, "undeclared port → declared guest 101 (IPv6)"),
        ("u05", "g101", "10.71.0.99", false, "guest 101 → undeclared port, bridged (IPv4)"),
        ("u06", "g101", "fd71::99", false, "guest 101 → undeclared port, bridged (IPv6)"),
        ("u07", "g101", "10.71.0.1", true, "declared guest 101 → node"),
        ("u08", "node", "10.71.0.99", false, "node → undeclared port (IPv4)"),
        ("u09", "node", "fd71::99", false, "node → undeclared port (IPv6)"),
        ("u10", "node", "10.71.0.11", true, "node → declared guest 101 (IPv4)"),
        ("u11", "node", "fd71::11", true, "node → declared guest 101 (IPv6)"),
        ("u12", "g998", "10.72.0.1", true, "opted-out vnet: undeclared port → node (IPv4)"),
        ("u13", "g998", "fd72::1", true, "opted-out vnet: undeclared port → node (IPv6)"),
        ("u14", "g998", "10.72.0.12", true, "opted-out vnet: undeclared port → guest 102"),
        ("u15", "node", "10.72.0.98", true, "opted-out vnet: node → undeclared port (IPv4)"),
        ("u16", "node", "fd72::98", true, "opted-out vnet: node → undeclared port (IPv6)"),
        ("u17", "g102", "10.72.0.98", true, "opted-out vnet: guest 102 → undeclared port"),
        ("u18", "outside", "10.73.0.13", true, "outside → guest 103 in through the node's VLAN port (IPv4)"),
        ("u19", "outside", "fd73::13", true, "outside → guest 103 in through the node's VLAN port (IPv6)"),
        ("u20", "outside", "10.73.0.97", false, "outside → undeclared port on v20 (IPv4)"),
        ("u21", "outside", "fd73::97", false, "outside → undeclared port on v20 (IPv6)"),
        ("u22", "g103", "10.73.0.2", true, "guest 103 → outside out through the node's VLAN port (IPv4)"),
        ("u23", "g103", "fd73::2", true, "guest 103 → outside out through the node's VLAN port (IPv6)"),
        ("u24", "g997", "10.73.0.2", false, "undeclared port on v20 → outside (IPv4)"),
        ("u25", "g997", "fd73::2", false, "undeclared port on v20 → outside (IPv6)"),
        ("u26", "g997", "10.73.0.13", false, "undeclared port on v20 → guest 103"),
    ]

    /// Neighbour discovery from each undeclared port, before any static entry: ping (ARP/ND first) and
    /// arping, and whether the other side learnt the sender (a neighbour entry made from its request).
    static let neighbourChecks: [(rogue: Int, v4: String, v6: String, learner: String, device: String, passes: Bool)] = [
        (999, "10.71.0.1", "fd71::1", "node", "web", false),
        (998, "10.72.0.1", "fd72::1", "node", "open", true),
        (997, "10.73.0.2", "fd73::2", "outside", "eth0.20", false),
    ]

    static func unknownPortScript(layout: UnknownPortLayout) -> String {
        let modules: [String]
        switch layout {
        case .full:
            modules = KernelLab.firewallModules
        case .minimal:
            modules = KernelLab.firewallModules.filter { $0 != "nf_conntrack_bridge" && $0 != "nft_reject_bridge" } + ["br_netfilter"]
        }
        var lines = modules.map { "modprobe \($0) || echo 'modprobe \($0) failed' >&2" }
        if layout == .minimal {
            // Nothing may load nf_conntrack_bridge behind the probe's back (the kernel asks modprobe for it).
            lines.append("echo /bin/true >/proc/sys/kernel/modprobe")
        }
        let namespaces = ["node", "outside"] + declared.map { "g\($0.id)" } + rogues.map { "g\($0.id)" }
        lines += LabScript.preamble(variables: [
            [("P", "up"), ("SDN", "/usr/local/bin/sdn"), ("PROBE", "/usr/local/bin/sdn-probe"), ("NFT", "/usr/local/bin/nft")],
            [("FIXTURE", "/lab/fixture"), ("WORK", "/tmp/up")],
        ], namespaces: namespaces)
        lines += [
            "for name in node outside; do run ip netns add \"$P-$name\"; run ip -n \"$P-$name\" link set lo up; done",
            "run ip -n \"$P-node\" link add eth0 type veth peer name eth0 netns \"$P-outside\"",
            "run ip -n \"$P-outside\" link set eth0 address \(outsideMAC)",
            "run ip -n \"$P-outside\" link set eth0 up",
            "run ip -n \"$P-outside\" link add link eth0 name eth0.20 type vlan id 20",
            "run ip -n \"$P-outside\" addr add 10.73.0.2/24 dev eth0.20",
            "run ip -n \"$P-outside\" addr add fd73::2/64 dev eth0.20 nodad",
            "run ip -n \"$P-outside\" link set eth0.20 up",
        ]
        for guest in declared {
            let ns = "\"$P-g\(guest.id)\""
            lines += LabScript.guest(id: guest.id, port: guest.port, mac: guest.mac)
            lines += [
                "run ip -n \(ns) addr add \(guest.v4)/24 dev eth0",
                "run ip -n \(ns) addr add \(guest.v6)/64 dev eth0 nodad",
                "run ip -n \(ns) link set eth0 up",
            ]
            if let gateway = guest.gateway {
                lines += ["run ip -n \(ns) route add default via \(gateway.0)", "run ip -n \(ns) -6 route add default via \(gateway.1)"]
            }
        }
        for rogue in rogues {
            let ns = "\"$P-g\(rogue.id)\""
            lines += LabScript.guest(id: rogue.id, port: rogue.port, mac: rogue.mac)
            lines += [
                "run ip -n \(ns) addr add \(rogue.v4)/24 dev eth0",
                "run ip -n \(ns) addr add \(rogue.v6)/64 dev eth0 nodad",
                "run ip -n \(ns) link set eth0 up",
                // As hypervisors do with a tap: the node sends nothing of its own on the port.
                "run ip netns exec \"$P-node\" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/\(rogue.port)/disable_ipv6'",
            ]
        }
        lines += [
            "",
            "\"$SDN\" apply --config \"$FIXTURE/Topologies\" --config \"$FIXTURE/Policies\" --node lab --netns \"$P-node\" --yes >\"$WORK/apply.txt\" 2>&1",
            "echo \"apply status $?\" >>\"$WORK/apply.txt\"",
            "section apply cat \"$WORK/apply.txt\"",
            "grep -q '^apply status 0$' \"$WORK/apply.txt\" || exit 4",
            "",
            "# The ports nobody declared, plugged in by hand after sdn's apply.",
        ]
        for rogue in rogues {
            lines += ["run ip -n \"$P-node\" link set \(rogue.port) master \(rogue.bridge)", "run ip -n \"$P-node\" link set \(rogue.port) up"]
        }
        lines += [
            "tries=0",
            "while [ $tries -lt 50 ]; do",
            "  busy=",
            "  for name in \(namespaces.joined(separator: " ")); do",
            "    if ip -n \"$P-$name\" -6 addr show tentative | grep -q inet6; then busy=1; fi",
            "  done",
            "  [ -z \"$busy\" ] && break",
            "  sleep 0.2; tries=$((tries + 1))",
            "done",
            "section ruleset ip netns exec \"$P-node\" \"$NFT\" -j list ruleset",
            "",
            "# Neighbour discovery from the undeclared ports (ARP and ND requests are broadcast and multicast).",
            "neighbours() {",
        ]
        for check in neighbourChecks {
            let ns = "\"$P-g\(check.rogue)\""
            let rogue = rogues.first { $0.id == check.rogue }!
            lines += [
                "  ip netns exec \(ns) arping -c 1 -w 2 -I eth0 \(check.v4) >/dev/null 2>&1; echo \"g\(check.rogue) arping $?\"",
                "  ip netns exec \(ns) ping -c 1 -W 2 \(check.v4) >/dev/null 2>&1; echo \"g\(check.rogue) ping $?\"",
                "  ip netns exec \(ns) ping6 -c 1 -W 2 \(check.v6) >/dev/null 2>&1; echo \"g\(check.rogue) ping6 $?\"",
                "  if ip -n \"$P-\(check.learner)\" neigh show dev \(check.device) | grep -q '^\(rogue.v4) '; then echo 'g\(check.rogue) learnt-v4 1'; else echo 'g\(check.rogue) learnt-v4 0'; fi",
                "  if ip -n \"$P-\(check.learner)\" -6 neigh show dev \(check.device) | grep -q '^\(rogue.v6) '; then echo 'g\(check.rogue) learnt-v6 1'; else echo 'g\(check.rogue) learnt-v6 0'; fi",
            ]
        }
        lines += [
            "}",
            "section neighbours neighbours",
            "",
            "# Broadcast and multicast from the declared guest and the node, flooded to every port of web.",
            "ip netns exec \"$P-g101\" ping -b -c 2 -W 1 10.71.0.255 >/dev/null 2>&1",
            "ip netns exec \"$P-g101\" ping6 -c 2 -W 1 -I eth0 ff02::1 >/dev/null 2>&1",
            "ip netns exec \"$P-node\" ping6 -c 2 -W 1 -I web ff02::1 >/dev/null 2>&1",
            "",
            "# Static neighbours, so that IP packets are sent without ARP or ND.",
            "WEBMAC=$(ip netns exec \"$P-node\" cat /sys/class/net/web/address)",
            "run ip -n \"$P-g999\" neigh replace 10.71.0.1 lladdr \"$WEBMAC\" dev eth0",
            "run ip -n \"$P-g999\" neigh replace fd71::1 lladdr \"$WEBMAC\" dev eth0",
            "run ip -n \"$P-g999\" neigh replace 10.71.0.11 lladdr 52:54:00:71:01:01 dev eth0",
            "run ip -n \"$P-g999\" neigh replace fd71::11 lladdr 52:54:00:71:01:01 dev eth0",
            "run ip -n \"$P-g101\" neigh replace 10.71.0.99 lladdr 02:99:00:00:09:99 dev eth0",
            "run ip -n \"$P-g101\" neigh replace fd71::99 lladdr 02:99:00:00:09:99 dev eth0",
            "run ip -n \"$P-node\" neigh replace 10.71.0.99 lladdr 02:99:00:00:09:99 dev web",
            "run ip -n \"$P-node\" neigh replace fd71::99 lladdr 02:99:00:00:09:99 dev web",
            "run ip -n \"$P-g997\" neigh replace 10.73.0.2 lladdr \(outsideMAC) dev eth0",
            "run ip -n \"$P-g997\" neigh replace fd73::2 lladdr \(outsideMAC) dev eth0",
            "run ip -n \"$P-g997\" neigh replace 10.73.0.13 lladdr 52:54:00:73:01:03 dev eth0",
            "run ip -n \"$P-outside\" neigh replace 10.73.0.97 lladdr 02:99:00:00:09:97 dev eth0.20",
            "run ip -n \"$P-outside\" neigh replace fd73::97 lladdr 02:99:00:00:09:97 dev eth0.20",
            "",
            "listeners=\"node outside \(declared.map { "g\($0.id)" }.joined(separator: " ")) \(rogues.map { "g\($0.id)" }.joined(separator: " "))\"",
            "for name in $listeners; do",
            "  ip netns exec \"$P-$name\" \"$PROBE\" serve --tcp 80 >\"$WORK/serve-$name.txt\" 2>&1 &",
            "done",
            "for name in $listeners; do",
            "  tries=0",
            "  until grep -q ready \"$WORK/serve-$name.txt\" 2>/dev/null; do",
            "    tries=$((tries + 1)); [ $tries -gt 100 ] && { echo \"listener $name did not start\" >&2; exit 5; }",
            "    sleep 0.1",
            "  done",
            "done",
            "",
            "probes() {",
        ]
        var senders: [String] = []
        for flow in unknownPortFlows where !senders.contains(flow.from) { senders.append(flow.from) }
        for sender in senders {
            let specs = unknownPortFlows.filter { $0.from == sender }.map { "\($0.id),\($0.to),80" }
            lines.append("  ip netns exec \"$P-\(sender)\" \"$PROBE\" connect --timeout-ms 3000 \(specs.joined(separator: " "))")
        }
        lines += [
            "}",
            "section probes probes",
            "section counters ip netns exec \"$P-node\" \"$NFT\" -j list ruleset",
            // What reached each undeclared port's host, and the declared guest beside it, since the start.
            "received() { for name in g999 g998 g997 g101; do echo \"$name $(ip netns exec \"$P-$name\" cat /sys/class/net/eth0/statistics/rx_packets)\"; done; }",
            "section received received",
            "",
            "# sdn trace against this kernel (probed: the same modules as the node's namespace).",
            "trace() { \"$SDN\" trace --config \"$FIXTURE/Topologies\" --config \"$FIXTURE/Policies\" --node lab --output json \"$@\" 2>&1; }",
            "section trace-in trace --from tap999i0@web --src-ip 10.71.0.99 --to node tcp/80",
            "section trace-in-guest trace --from tap999i0@web --src-ip 10.71.0.99 --to 101 tcp/80",
            "section trace-out trace --from 101 --to tap999i0@web --dst-ip 10.71.0.99 tcp/80",
            "section trace-out-node trace --from node --to tap999i0@web --dst-ip 10.71.0.99 tcp/80",
            "section trace-open trace --from tap998i0@open --src-ip 10.72.0.98 --to node tcp/80",
            "section trace-vlan trace --from tap997i0@v20 --src-ip 10.73.0.97 --to 103 tcp/80",
            "section trace-vlan-port trace --from 10.73.0.2 --to 103 tcp/80",
            "exit 0",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Rule comment (sdn's rule id) → packets, from `nft -j list ruleset`.
    static func ruleCounters(_ json: String) -> [String: Int] {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        var counters: [String: Int] = [:]
        for item in root["nftables"] as? [[String: Any]] ?? [] {
            guard let rule = item["rule"] as? [String: Any], let id = rule["comment"] as? String else { continue }
            for expression in rule["expr"] as? [[String: Any]] ?? [] {
                if let counter = expression["counter"] as? [String: Any] { counters[id, default: 0] += counter["packets"] as? Int ?? 0 }
            }
        }
        return counters
    }

    /// The family of the table that holds chain `name` in `nft -j list ruleset`.
    static func family(ofChain name: String, in json: String) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        for item in root["nftables"] as? [[String: Any]] ?? [] {
            if let chain = item["chain"] as? [String: Any], chain["name"] as? String == name { return chain["family"] as? String }
        }
        return nil
    }

    /// `sdn trace --output json`: the verdict and the ids of the rules that matched on the way.
    static func traced(_ json: String) -> (verdict: String, matched: [String])? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let verdict = object["verdict"] as? String else { return nil }
        var matched: [String] = []
        for leg in object["legs"] as? [[String: Any]] ?? [] {
            for step in leg["steps"] as? [[String: Any]] ?? [] where step["matched"] as? Bool == true {
                if let id = step["id"] as? String { matched.append(id) }
            }
        }
        return (verdict, matched)
    }

    @Test(arguments: UnknownPortLayout.allCases)
    func undeclaredPortsPassNothingWithRealPackets(_ layout: UnknownPortLayout) async throws {
        let sdn = try KernelLab.productBinary("sdn")
        let probe = try KernelLab.productBinary("sdn-probe")
        let nft = try #require(ExecutableLookup.find("nft"), "`nft` not found: the lab reads the counters with it")
        let result = try await KernelLab.run(
            script: Self.unknownPortScript(layout: layout),
            files: ["/lab/fixture": repositoryRoot + "/Tests/KernelLabTests/Fixtures/unknown-ports"],
            binaries: [sdn, probe, nft],
            memoryMiB: 768
        )
        print("kernel lab: unknown ports (\(layout.rawValue)) boot \(Self.timing(result))")
        let apply = result.sections["apply"] ?? ""
        try #require(apply.isEmpty || apply.contains("apply status 0"), "sdn apply failed in the lab:\n\(apply)")
        try #require(result.exitCode == 0, "the lab script failed (status \(result.exitCode)):\n\(result.stderr)\n\(apply)")
        #expect(!result.stderr.contains("modprobe"), "\(result.stderr)")
        #expect(!apply.contains("unknown-ports-pass"), "the kernel has nft_meta_bridge: no warning expected\n\(apply)")

        // The layout the probe chose is the one asked for.
        let ruleset = try #require(result.sections["ruleset"])
        #expect(Self.family(ofChain: "guests-out", in: ruleset) == (layout == .full ? "bridge" : "inet"))

        // TCP (IPv4 and IPv6) with static neighbours.
        var probes: [String: String] = [:]
        for line in (result.sections["probes"] ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { probes[String(parts[0])] = String(parts[1]) }
        }
        for flow in Self.unknownPortFlows {
            let outcome = try #require(probes[flow.id], "no probe result for \(flow.id) \(flow.what)")
            // The minimal layout drops the node's new connections to an address no guest declares, in
            // any vnet (guests-in-local/undeclared-*, docs/firewall-paths.md): the opted-out port's too.
            let connects = flow.connects && !(layout == .minimal && ["u15", "u16"].contains(flow.id))
            #expect(outcome.hasPrefix("connected") == connects, "\(flow.id) \(flow.what): \(outcome)")
        }

        // ARP and ND from the undeclared ports: no answer, and nothing learnt from them, except on `open`.
        var neighbours: [String: String] = [:]
        for line in (result.sections["neighbours"] ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ")
            if parts.count == 3 { neighbours["\(parts[0]) \(parts[1])"] = String(parts[2]) }
        }
        for check in Self.neighbourChecks {
            for (probe, success) in [("arping", "0"), ("ping", "0"), ("ping6", "0"), ("learnt-v4", "1"), ("learnt-v6", "1")] {
                let value = try #require(neighbours["g\(check.rogue) \(probe)"], "no \(probe) result for g\(check.rogue)")
                #expect((value == success) == check.passes, "g\(check.rogue) \(probe): \(value) (must \(check.passes ? "" : "not ")pass)")
            }
        }

        // Nothing at all reached the undeclared ports of strict vnets: not the broadcast pings, not the
        // node's ND and ARP, not the flooded frames of the neighbours' lookups.
        var received: [String: Int] = [:]
        for line in (result.sections["received"] ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ")
            if parts.count == 2, let count = Int(parts[1]) { received[String(parts[0])] = count }
        }
        #expect(received["g999"] == 0, "the undeclared port on web received \(received["g999"].map(String.init) ?? "?") frames")
        #expect(received["g997"] == 0, "the undeclared port on v20 received \(received["g997"].map(String.init) ?? "?") frames")
        #expect((received["g998"] ?? 0) > 0, "the undeclared port on open (unknown-ports: accept) received nothing")
        #expect((received["g101"] ?? 0) > 0, "the declared guest received nothing")

        let counters = Self.ruleCounters(result.sections["counters"] ?? "")
        #expect((counters["unknown-ports/in"] ?? 0) > 0, "unknown-ports/in counted nothing: \(counters.filter { $0.key.hasPrefix("unknown") })")
        #expect((counters["unknown-ports/out"] ?? 0) > 0, "unknown-ports/out counted nothing")

        // sdn trace agrees with the kernel, and names the rule.
        let traces: [(section: String, flow: String, rule: String?)] = [
            ("trace-in", "u01", "unknown-ports/in"), ("trace-in-guest", "u03", "unknown-ports/in"),
            ("trace-out", "u05", "unknown-ports/out"),
            ("trace-out-node", "u08", layout == .full ? "unknown-ports/out" : "guests-in-local/undeclared-v4"),
            ("trace-open", "u12", nil), ("trace-vlan", "u26", "unknown-ports/in"), ("trace-vlan-port", "u18", nil),
        ]
        for check in traces {
            let text = result.sections[check.section] ?? ""
            let trace = try #require(Self.traced(text), "\(check.section): no verdict in \(text.prefix(300))")
            let kernelPasses = probes[check.flow]?.hasPrefix("connected") == true
            #expect((trace.verdict == "accept") == kernelPasses, "\(check.section): sdn trace says \(trace.verdict), the kernel \(probes[check.flow] ?? "?")")
            if let rule = check.rule {
                #expect(trace.matched.last == rule, "\(check.section): the last rule matched is \(trace.matched.last ?? "none"), not \(rule)")
            } else {
                #expect(!trace.matched.contains { $0.hasPrefix("unknown-ports") }, "\(check.section): \(trace.matched)")
            }
        }
    }
}
