import Foundation

extension PathMatrix {
    /// Where the lab script finds its tools and puts its files.
    public struct ScriptSettings: Sendable {
        /// Namespace names are `<prefix>-node`, `<prefix>-g101`, …
        public var prefix: String
        public var sdn: String
        public var probe: String
        public var nft: String
        /// The fixture directory as the script sees it.
        public var fixture: String
        /// A scratch directory for the apply output and the listeners' logs.
        public var work: String
        public var layout: Layout
        /// How long a connection attempt may take before it counts as dropped.
        public var connectTimeoutMilliseconds: Int

        public init(prefix: String, sdn: String, probe: String, nft: String, fixture: String, work: String, layout: Layout,
                    connectTimeoutMilliseconds: Int = 2000) {
            self.prefix = prefix
            self.sdn = sdn
            self.probe = probe
            self.nft = nft
            self.fixture = fixture
            self.work = work
            self.layout = layout
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        }
    }

    /// The namespaces of the lab, by suffix.
    static var namespaces: [String] { ["node", "outside"] + guests.map { "g\($0.id)" } }

    /// A POSIX `sh` script that builds the lab, applies the fixture with `sdn apply`, sends every flow
    /// and reports through `section NAME COMMAND…` (the kernel lab defines it; the host runner too):
    /// `apply` (its output and `apply status N`), `probes` (`ID OUTCOME` per TCP flow), `received`
    /// (what 101's UDP listener got), `counters-before` / `counters-after` (`nft -j list ruleset` of the
    /// node). Namespaces are removed when it exits.
    ///
    /// The links are made with `ip` the way a hypervisor makes them (veths named as sdn expects, the
    /// guest end `eth0` inside the guest's namespace); everything on the node — bridges, ports, the
    /// uplink bridge, addresses, forwarding, the firewall — is `sdn apply`'s.
    public static func script(_ settings: ScriptSettings, flows: [Flow] = flows) -> String {
        var lines: [String] = LabScript.preamble(variables: [
            [("P", settings.prefix), ("SDN", settings.sdn), ("PROBE", settings.probe), ("NFT", settings.nft)],
            [("FIXTURE", settings.fixture), ("WORK", settings.work)],
        ], namespaces: namespaces) + [
            "",
            "# The node, and the host beyond its uplink (eth0 ↔ eth0; sdn makes vmbr0 with eth0 as its port).",
        ]
        for name in ["node", "outside"] {
            lines += ["run ip netns add \"$P-\(name)\"", "run ip -n \"$P-\(name)\" link set lo up"]
        }
        lines.append("run ip -n \"$P-node\" link add eth0 type veth peer name eth0 netns \"$P-outside\"")
        lines += [
            "run ip -n \"$P-outside\" addr add \(outsideAddress[.ipv4]!)/24 dev eth0",
            "run ip -n \"$P-outside\" addr add \(outsideAddress[.ipv6]!)/64 dev eth0 nodad",
            "run ip -n \"$P-outside\" link set eth0 up",
        ]
        for family in Family.allCases {
            for subnet in vnetSubnets[family]! {
                lines.append("run ip -n \"$P-outside\" \(family == .ipv6 ? "-6 " : "")route add \(subnet) via \(uplinkAddress[family]!)")
            }
        }
        lines.append("")
        lines.append("# Guests as a hypervisor starts them: node end named as sdn expects, eth0 inside the guest.")
        for guest in guests {
            let ns = "\"$P-g\(guest.id)\""
            lines += LabScript.guest(id: guest.id, port: guest.port, mac: "\(guest.mac)")
            for family in Family.allCases {
                for isDeclared in [true, false] {
                    let address = guest.address(family, declared: isDeclared)
                    lines.append("run ip -n \(ns) addr add \(address)/\(guest.prefixLength[family]!) dev eth0\(family == .ipv6 ? " nodad" : "")")
                }
            }
            lines += [
                "run ip -n \(ns) link set eth0 up",
                "run ip -n \(ns) route add default via \(guest.gateway[.ipv4]!)",
                "run ip -n \(ns) -6 route add default via \(guest.gateway[.ipv6]!)",
            ]
        }
        lines += [
            "",
            "# The product: links and firewall of the node, one plan.",
            "\"$SDN\" apply --config \"$FIXTURE/Topologies\" --config \"$FIXTURE/Policies\" --node lab --netns \"$P-node\" --kernel \(settings.layout.rawValue) --yes >\"$WORK/apply.txt\" 2>&1",
            "echo \"apply status $?\" >>\"$WORK/apply.txt\"",
            "section apply cat \"$WORK/apply.txt\"",
            "grep -q '^apply status 0$' \"$WORK/apply.txt\" || exit 4",
            "",
            "# IPv6 addresses sdn added are usable once duplicate address detection is over.",
            "tries=0",
            "while [ $tries -lt 50 ]; do",
            "  busy=",
            "  for name in \(namespaces.joined(separator: " ")); do",
            "    if ip -n \"$P-$name\" -6 addr show tentative | grep -q inet6; then busy=1; fi",
            "  done",
            "  [ -z \"$busy\" ] && break",
            "  sleep 0.2; tries=$((tries + 1))",
            "done",
            "",
            "# Listeners: 101 (every guest flow's target) and the node.",
            "ip netns exec \"$P-g101\" \"$PROBE\" serve --tcp 22,80,81 --udp \(spoofPort) >\"$WORK/serve-g101.txt\" 2>&1 &",
            "ip netns exec \"$P-node\" \"$PROBE\" serve --tcp 22,80,81 >\"$WORK/serve-node.txt\" 2>&1 &",
            "tries=0",
            "until grep -q ready \"$WORK/serve-g101.txt\" 2>/dev/null && grep -q ready \"$WORK/serve-node.txt\" 2>/dev/null; do",
            "  tries=$((tries + 1)); [ $tries -gt 100 ] && { echo 'listeners did not start' >&2; cat \"$WORK\"/serve-*.txt >&2; exit 5; }",
            "  sleep 0.1",
            "done",
            "",
            "# TCP flows: all flows of one sender at once.",
            "probes() {",
        ]
        let tcpFlows = flows.filter { $0.proto == "tcp" }
        var senders: [Party] = []
        for flow in tcpFlows where !senders.contains(flow.from) { senders.append(flow.from) }
        for sender in senders {
            let specs = tcpFlows.filter { $0.from == sender }.map { flow in
                "\(flow.id),\(flow.destinationAddress),\(flow.port)" + (flow.sourceAddress.map { ",\($0)" } ?? "")
            }
            lines.append("  ip netns exec \"$P-\(sender.namespace)\" \"$PROBE\" connect --timeout-ms \(settings.connectTimeoutMilliseconds) \(specs.joined(separator: " "))")
        }
        lines += ["}", "section probes probes", ""]

        lines.append("# Frames built by hand, genuine and forged, from the forging guest to udp/\(spoofPort) on 101.")
        lines.append("section counters-before ip netns exec \"$P-node\" \"$NFT\" -j list ruleset")
        for flow in flows where flow.path == .spoof {
            guard case .guest(let sender) = flow.from, case .guest(let receiver) = flow.to else { continue }
            lines.append(
                "ip netns exec \"$P-g\(sender)\" \"$PROBE\" send --interface eth0 --src-mac \(flow.sourceMAC ?? guest(sender).mac) --dst-mac \(guest(receiver).mac)"
                    + " --src-ip \(flow.sourceAddress ?? guest(sender).declared[flow.family]!) --dst-ip \(flow.destinationAddress) --port \(flow.port) --payload \(flow.id)"
                    + " >/dev/null || echo \"send \(flow.id) failed\" >&2"
            )
        }
        lines += [
            "sleep 1",
            "section counters-after ip netns exec \"$P-node\" \"$NFT\" -j list ruleset",
            "section received cat \"$WORK/serve-g101.txt\"",
            "exit 0",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// What the lab script reported.
    public struct Observation: Sendable {
        /// The raw outcome line of each TCP flow, by id (`connected`, `refused ECONNREFUSED`, `timeout`, …).
        public var probes: [String: String] = [:]
        /// The flow ids whose UDP datagram 101 received.
        public var received: Set<String> = []
        /// Packet counters of rules (by id) before and after the forged frames.
        public var countersBefore: [String: Int] = [:]
        public var countersAfter: [String: Int] = [:]

        public init(sections: [String: String]) {
            for line in (sections["probes"] ?? "").split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: " ", maxSplits: 1)
                if parts.count == 2 { probes[String(parts[0])] = String(parts[1]) }
            }
            for line in (sections["received"] ?? "").split(whereSeparator: \.isNewline) where line.hasPrefix("udp ") {
                if let payload = line.split(separator: " ").last { received.insert(String(payload)) }
            }
            countersBefore = Self.counters(sections["counters-before"] ?? "")
            countersAfter = Self.counters(sections["counters-after"] ?? "")
        }

        /// Rule comment → packets, from `nft -j list ruleset` (sdn puts each rule's id in its comment).
        static func counters(_ json: String) -> [String: Int] {
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

        /// What the kernel did with `flow`, or why that cannot be told.
        public func outcome(of flow: Flow) -> Result<Outcome, PredictionError> {
            if flow.path == .spoof {
                return .success(received.contains(flow.id) ? .delivered : .dropped)
            }
            guard let raw = probes[flow.id] else { return .failure(PredictionError(text: "no probe result")) }
            switch raw.split(separator: " ").first.map(String.init) ?? "" {
            case "connected": return .success(.delivered)
            case "refused", "unreachable": return .success(.rejected)
            case "timeout", "local-drop": return .success(.dropped)
            default: return .failure(PredictionError(text: raw))
            }
        }

        /// For a forged frame: whether its anti-spoofing rule counted it (nil for other flows).
        public func counted(_ flow: Flow) -> Bool? {
            guard let rule = flow.counterRule else { return nil }
            return (countersAfter[rule] ?? 0) > (countersBefore[rule] ?? 0)
        }
    }

    /// One row of the result table.
    public struct Row: Sendable {
        public var flow: Flow
        public var kernel: Result<Outcome, PredictionError>
        public var intent: Outcome
        public var trace: Result<Outcome, PredictionError>
        /// For forged frames: whether the named anti-spoofing counter grew.
        public var counted: Bool?

        public var kernelAgrees: Bool { (try? kernel.get()) == intent && counted != false }
        public var traceAgrees: Bool { (try? trace.get()) == intent }

        /// The outcome, or `error` (the table lists each distinct error once, below the rows).
        static func text(_ result: Result<Outcome, PredictionError>) -> String {
            switch result {
            case .success(let outcome): outcome.rawValue
            case .failure: "error"
            }
        }

        /// Why the kernel's outcome or the trace's prediction is unknown, if it is.
        public var errors: [String] {
            var errors: [String] = []
            if case .failure(let error) = kernel { errors.append("kernel: \(error.text)") }
            if case .failure(let error) = trace { errors.append("trace: \(error.text)") }
            return errors
        }

        /// The row as the table prints it.
        public var line: String {
            let flow = self.flow
            let policy = "\(flow.policy.rawValue) \(flow.proto)/\(flow.port)"
            var kernelText = Self.text(kernel)
            if counted == false { kernelText += " (not counted)" }
            let mark = kernelAgrees && traceAgrees ? "ok" : "MISMATCH" + (kernelAgrees ? "" : " kernel") + (traceAgrees ? "" : " trace")
            let columns = [
                flow.id, flow.path.rawValue, flow.family.rawValue, flow.declared ? "declared" : "undeclared", policy,
                "\(flow.from)→\(flow.to) \(flow.sourceAddress.map { "\($0)→" } ?? "")\(flow.destinationAddress)",
                kernelText, intent.rawValue, Self.text(trace), mark + (flow.note.isEmpty ? "" : "  [\(flow.note)]"),
            ]
            let widths = [4, 18, 5, 10, 15, 42, 12, 10, 12]
            return columns.enumerated().map { index, column in
                index < widths.count ? column.padding(toLength: max(widths[index], column.count), withPad: " ", startingAt: 0) : column
            }.joined(separator: " ")
        }
    }

    /// Every flow's row: kernel outcome, intent and trace prediction side by side.
    public static func rows(observation: Observation, predictions: [String: Result<Outcome, PredictionError>], layout: Layout,
                            flows: [Flow] = flows) -> [Row] {
        flows.map { flow in
            Row(flow: flow, kernel: observation.outcome(of: flow), intent: intent(of: flow, in: layout),
                trace: predictions[flow.id] ?? .failure(PredictionError(text: "not traced")), counted: observation.counted(flow))
        }
    }

    /// The readable table of all rows, with a header and a count of mismatches.
    public static func table(_ rows: [Row], layout: Layout) -> String {
        let header = ["id", "path", "fam", "address", "policy", "flow", "kernel", "intent", "trace", "result"]
        let widths = [4, 18, 5, 10, 15, 42, 12, 10, 12]
        let headerLine = header.enumerated().map { index, column in
            index < widths.count ? column.padding(toLength: widths[index], withPad: " ", startingAt: 0) : column
        }.joined(separator: " ")
        let kernelMismatches = rows.filter { !$0.kernelAgrees }.count
        let traceMismatches = rows.filter { !$0.traceAgrees }.count
        var errors: [String: [String]] = [:]
        for row in rows {
            for error in row.errors { errors[error, default: []].append(row.flow.id) }
        }
        let footnotes = errors.sorted { $0.key < $1.key }.map { error, ids in
            "  \(error)  [\(ids.count == 1 ? ids[0] : "\(ids.count) flows: \(ids.first!)…\(ids.last!)")]"
        }
        return (["path matrix, layout \(layout.rawValue): \(rows.count) flows, kernel ≠ intent: \(kernelMismatches), trace ≠ intent: \(traceMismatches)", headerLine]
            + rows.map(\.line) + (footnotes.isEmpty ? [] : ["errors:"] + footnotes)).joined(separator: "\n")
    }
}
