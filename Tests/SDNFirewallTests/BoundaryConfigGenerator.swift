import SDNModel

/// SplitMix64: a fixed, seedable generator, so a failing case is reproduced by its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A valid configuration (topology and policy YAML) with names at their limits and options at their
/// bounds. Every configuration has the fixed extremes (63-character node, zone, group, alias and IP set
/// names, 15-character vnet and uplink names, guests 100 and 999999999 on net0 and net31, a 32-character
/// rule id on a rule of a 63-character group with log, every log level, the log-rate-limit extremes,
/// ports 1 and 65535); the seed picks everything else (more guests, rules, macros, protocols, address
/// lists, big IP sets with exclusions, options).
struct BoundaryConfig: CustomStringConvertible, Sendable {
    var seed: UInt64
    var topology: String
    var policy: String
    var node: String

    var description: String { "seed \(seed)" }
}

struct BoundaryConfigGenerator {
    var rng: SeededGenerator
    let seed: UInt64
    /// Also write one value at or just past a limit (a group name or rule id a character too long, an
    /// interface name with a character nft cannot write, a limit the kernel overflows), chosen by the
    /// seed: some such configurations are valid, the others validation must refuse.
    let risky: Bool
    private var riskyTarget = -1
    private var ruleIDs = 0

    init(seed: UInt64, risky: Bool = false) {
        self.seed = seed
        self.risky = risky
        rng = SeededGenerator(seed: seed)
        if risky { riskyTarget = int(0...3) }
    }

    static let riskyRateLimits = ["1/day burst 213504", "1/hour burst 5124096", "1/minute burst 307445735", "4294967296/second",
                                  "1/second burst 4294967296", "0/second", "1/day burst 213503"]

    /// An interface name near the limits: 14 to 17 bytes, or with a character nft reads specially.
    mutating func riskyInterfaceName() -> String {
        var name = interfaceName(int(1...14))
        if chance(0.6) { name.insert(pick(Array("\"@*\\$'#{;%!")), at: name.index(name.startIndex, offsetBy: int(0...name.count))) }
        while chance(0.4) { name.append("x") }
        return name
    }

    /// A one-line rule as the content of a double-quoted YAML scalar.
    static func quoted(_ rule: String) -> String {
        rule.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    static let logLevels = LogLevel.allCases.map(\.rawValue)
    /// The extremes the kernel accepts (`LogRateLimit.maximumBurst`), and the smallest.
    static let rateLimits = ["1/day burst 213503", "1/hour burst 5124095", "1/minute burst 307445734",
                             "4294967295/second burst 4294967295", "1/second burst 1", "1/second", "4294967295/day burst 1"]
    static let portProtocols = ["tcp", "udp", "udplite", "sctp", "dccp"]

    // MARK: random pieces

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < probability }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// A name of exactly `length` characters: a letter, then letters, digits, `-` and `_`.
    mutating func name(_ length: Int, first: Character? = nil) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let rest = letters + Array("0123456789-_")
        var text = String(first ?? pick(letters))
        while text.count < length { text.append(pick(rest)) }
        return text
    }

    /// An interface name of exactly `length` bytes, in the characters nft can write.
    mutating func interfaceName(_ length: Int) -> String {
        let characters = Array("abcdefghijklmnopqrstuvwxyz0123456789-_.")
        var text = String(pick(Array("abcdefghijklmnopqrstuvwxyz")))
        while text.count < length { text.append(pick(characters)) }
        return text
    }

    mutating func port() -> String {
        switch int(0...7) {
        case 0: "1"
        case 1: "65535"
        case 2: "1-65535"
        case 3: "1,65535"
        case 4: "\(int(1...65535))"
        case 5: "22,22,80"  // a repeated port
        case 6: "1-100,50-150,120"  // overlapping ranges
        default: "\(int(1...30000))-\(int(30001...65535))"
        }
    }

    mutating func prefix(_ family: IPAddress.Family) -> String {
        switch family {
        case .ipv4:
            let length = int(8...32)
            let value = UInt32.random(in: .min ... .max, using: &rng) & (length == 0 ? 0 : ~UInt32(0) << (32 - length))
            let address = "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
            return length == 32 ? address : "\(address)/\(length)"
        case .ipv6:
            let length = pick([32, 48, 56, 64, 128])
            let groups = (0..<8).map { index in index * 16 < length ? String(int(0...0xffff), radix: 16) : "0" }
            let address = "2001:db8:" + groups[2...].joined(separator: ":")
            return length == 128 ? address : "\(address)/\(max(length, 32))"
        }
    }

    // MARK: the configuration

    mutating func generate() -> BoundaryConfig {
        let node = name(63, first: "n")
        let zone = name(63, first: "z")
        let vnetLong = name(15, first: "v")
        let vnetShort = name(int(1...14), first: "w")
        let uplink = interfaceName(15)
        let bridge = interfaceName(15)
        let apiPort = pick([1, 65535, 8006, int(1...65535)])
        let groups = [name(riskyTarget == 2 ? int(62...64) : 63, first: "g"), name(int(1...63), first: "h")]
        let aliases = [(name(63, first: "a"), IPAddress.Family.ipv4), (name(int(1...63), first: "b"), .ipv6)]
        let ipsets = [name(63, first: "s"), name(int(1...62), first: "t")]

        // Guests: the extremes, then a few at random. LXC's `veth<id>i<N>` fits 15 bytes up to id 99999999 at net31.
        var guests: [(id: Int, kind: String, nics: [Int])] = [(100, "kvm", [0, 31]), (999_999_999, "kvm", [0, 31]), (99_999_999, "lxc", [31, 0])]
        var usedIDs = Set(guests.map(\.id))
        for _ in 0..<int(1...6) {
            let kind = pick(["kvm", "lxc"])
            let id = kind == "kvm" ? int(100...999_999_999) : int(100...99_999_999)
            guard usedIDs.insert(id).inserted else { continue }
            let nics = Array(Set((0..<int(1...4)).map { _ in int(0...31) })).sorted()
            guests.append((id, kind, nics))
        }

        var topology = """
        nodes:
          \(node):
            address: 192.0.2.10
            api-port: \(apiPort)
            management: [192.0.2.0/24, "2001:db8:ffff::/48"]
            uplinks:
              \(uplink): {}
              \(bridge):
                bridge: { ports: [\(uplink)] }
                addresses: [192.0.2.10/24]
        zones:
          \(zone): { type: simple }
        vnets:
          \(vnetLong):
            zone: \(zone)
            subnets:
              10.64.0.0/10: { gateway: 10.64.0.1, snat: true }
              "fd00:64::/64": { gateway: "fd00:64::1" }
          \(vnetShort):
            zone: \(zone)
            subnets:
              172.16.0.0/12: { gateway: 172.16.0.1 }
        guests:

        """
        var mac = 0
        var host = 10
        var guestNICs: [Int: [String]] = [:]
        for guest in guests {
            topology += "  \(guest.id):\n    kind: \(guest.kind)\n    node: \(node)\n    nics:\n"
            for index in guest.nics {
                mac += 1
                host += 1
                let macText = String(format: "52:54:%02x:%02x:%02x:%02x", (mac >> 24) & 255, (mac >> 16) & 255, (mac >> 8) & 255, mac & 255)
                switch int(0...4) {
                case 0:
                    topology += "      net\(index): { bridge: \(bridge), mac: \"\(macText)\" }\n"
                case 1:
                    topology += "      net\(index): { vnet: \(vnetShort), mac: \"\(macText)\", ip: [172.16.\(host / 250).\(host % 250 + 2)] }\n"
                default:
                    let firewall = chance(0.1) ? ", firewall: false" : ""
                    topology += "      net\(index): { vnet: \(vnetLong), mac: \"\(macText)\", ip: [10.64.\(host / 250).\(host % 250 + 2), \"fd00:64::\(String(host, radix: 16))\"]\(firewall) }\n"
                }
                guestNICs[guest.id, default: []].append("net\(index)")
            }
        }

        var policy = "aliases:\n"
        for (alias, family) in aliases { policy += "  \(alias): \"\(prefix(family))\"\n" }
        policy += "ipsets:\n"
        for set in ipsets {
            policy += "  \(set):\n"
            let count = chance(0.5) ? int(500...2500) : int(1...20)
            for _ in 0..<count {
                let family: IPAddress.Family = chance(0.8) ? .ipv4 : .ipv6
                policy += "    - \"\(prefix(family))\"\n"
            }
            // An exclusion inside an included entry, and a range, and an alias entry.
            policy += "    - 203.0.113.0/24\n    - \"!203.0.113.128/25\"\n    - 198.51.100.10-198.51.100.20\n    - \"@\(aliases[0].0)\"\n"
        }

        policy += "groups:\n"
        for (index, group) in groups.enumerated() {
            policy += "  \(group):\n"
            if index == 0 {
                // The longest names together: a 63-character group, a 32-character rule id, log, reject.
                policy += "    - \"id \(name(riskyTarget == 3 ? int(31...34) : 32, first: "r")) in reject tcp dport 65535 log debug\"\n"
                policy += "    - \"id \(name(32, first: "q")) out drop udp sport 1 log emerg\"\n"
            }
            for _ in 0..<int(1...5) { policy += "    - \"\(Self.quoted(rule(directions: ["in", "out"], nics: nil, aliases: aliases, ipsets: ipsets, groups: [])))\"\n" }
        }

        let failsafe = chance(0.25)
        policy += "cluster:\n  options:\n" + options(scope: "cluster", failsafe: failsafe) + "  rules:\n"
        if !failsafe {
            // With the failsafe off, the operator's own first rule keeps SSH and the API open.
            for management in ["192.0.2.0/24", "2001:db8:ffff::/48"] {
                policy += "    - \"in accept tcp dport 22\(apiPort == 22 ? "" : ",\(apiPort)") from \(management)\"\n"
            }
        }
        for _ in 0..<int(2...8) { policy += "    - \"\(Self.quoted(rule(directions: ["in", "out", "forward"], nics: nil, aliases: aliases, ipsets: ipsets, groups: groups)))\"\n" }
        policy += "nodes:\n  \(node):\n    options:\n" + options(scope: "node", failsafe: failsafe) + "    rules:\n"
        for level in Self.logLevels {
            policy += "    - \"in accept tcp dport \(port()) iface \(pick([uplink, bridge, String(bridge.prefix(14)) + "*"])) log \(level)\"\n"
        }
        for _ in 0..<int(1...6) { policy += "    - \"\(Self.quoted(rule(directions: ["in", "out", "forward"], nics: nil, aliases: aliases, ipsets: ipsets, groups: groups)))\"\n" }
        if riskyTarget == 0 { policy += "    - \"\(Self.quoted("in accept tcp dport 22 iface " + riskyInterfaceName()))\"\n" }
        policy += "vnets:\n"
        for vnet in [vnetLong, vnetShort] {
            policy += "  \(vnet):\n    options:\n" + options(scope: "vnet", failsafe: true) + "    rules:\n"
            for _ in 0..<int(1...4) { policy += "    - \"\(Self.quoted(rule(directions: ["forward"], nics: nil, aliases: aliases, ipsets: ipsets, groups: groups)))\"\n" }
        }
        policy += "guests:\n"
        for guest in guests {
            policy += "  \(guest.id):\n    options:\n" + options(scope: "guest", failsafe: true) + "    rules:\n"
            let nics = guestNICs[guest.id] ?? []
            for _ in 0..<int(1...6) { policy += "    - \"\(Self.quoted(rule(directions: ["in", "out"], nics: nics, aliases: aliases, ipsets: ipsets, groups: groups)))\"\n" }
        }
        return BoundaryConfig(seed: seed, topology: topology, policy: policy, node: node)
    }

    mutating func options(scope: String, failsafe: Bool) -> String {
        let indent = scope == "cluster" ? "    " : "      "
        var lines: [String] = []
        func add(_ key: String, _ value: String) { lines.append("\(indent)\(key): \(value)") }
        switch scope {
        case "vnet":
            add("policy-forward", pick(["accept", "drop"]))
            add("log-level-forward", pick(Self.logLevels))
        default:
            add("policy-in", pick(["accept", "drop", "reject"]))
            add("policy-out", pick(["accept", "drop", "reject"]))
            add("log-level-in", pick(Self.logLevels))
            add("log-level-out", pick(Self.logLevels))
            if scope != "guest" {
                add("policy-forward", pick(["accept", "drop"]))
                add("log-level-forward", pick(Self.logLevels))
                add("failsafe", failsafe ? "true" : "false")
            }
        }
        add("log-rate-limit", riskyTarget == 1 && scope == "node" ? pick(Self.riskyRateLimits) : pick(Self.rateLimits))
        for key in ["nosmurfs", "tcpflags", "allow-invalid"] where chance(0.5) { add(key, chance(0.5) ? "true" : "false") }
        if scope == "guest" || scope == "cluster" {
            for key in ["macfilter", "ipfilter", "dhcp", "ndp", "radv", "dhcp-server"] where chance(0.6) { add(key, chance(0.5) ? "true" : "false") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One valid one-line rule.
    mutating func rule(directions: [String], nics: [String]?, aliases: [(String, IPAddress.Family)], ipsets: [String], groups: [String]) -> String {
        var words: [String] = []
        if chance(0.3) {
            // Unique in every list: a counter at the end.
            ruleIDs += 1
            let digits = String(ruleIDs)
            let length = max(pick([2, 8, 31, 32]), digits.count + 1)
            words += ["id", String(name(length, first: "r").prefix(length - digits.count)) + digits]
        }
        if !groups.isEmpty && chance(0.15) {
            words += ["group", pick(groups)]
            if let nics, !nics.isEmpty, chance(0.5) { words += ["iface", pick(nics)] } else if nics == nil && chance(0.3) { words += ["iface", interfaceName(int(1...15))] }
            return words.joined(separator: " ")
        }
        words += [pick(directions), pick(["accept", "drop", "reject"])]
        var family: IPAddress.Family? = pick([.ipv4, .ipv6, nil])
        switch int(0...3) {
        case 0:
            words.append(pick(FirewallMacro.catalog).name)
        case 1:
            words += [pick(Self.portProtocols)]
            if chance(0.7) { words += ["dport", port()] }
            if chance(0.4) { words += ["sport", port()] }
        case 2:
            let icmp = chance(0.5)
            family = icmp ? .ipv4 : .ipv6
            words.append(icmp ? "icmp" : "icmpv6")
            if chance(0.8) {
                let names = Array((icmp ? ICMPType.ipv4 : ICMPType.ipv6).keys).sorted()
                words += ["type", chance(0.7) ? pick(names) : pick(["0", "255", "\(int(0...255))"])]
            }
        default:
            if chance(0.5) {
                let number = int(0...255)
                words += ["proto", "\(number)"]
                // 1 and 58 are icmp and icmpv6, which fix the family.
                if number == 1 { family = .ipv4 } else if number == 58 { family = .ipv6 }
            }
        }
        for clause in ["from", "to"] where chance(0.5) {
            var items: [String] = []
            for _ in 0..<int(1...4) {
                switch int(0...3) {
                case 0: items.append("@" + pick(ipsets))
                case 1:
                    let alias = family.flatMap { wanted in aliases.first { $0.1 == wanted } } ?? pick(aliases)
                    items.append("@" + alias.0)
                    family = alias.1
                default:
                    let chosen = family ?? .ipv4
                    family = chosen
                    if chance(0.2) && chosen == .ipv4 { items.append("10.1.\(int(0...9)).1-10.1.\(int(10...20)).255") } else { items.append(prefix(chosen)) }
                }
            }
            if !items.isEmpty { words += [clause, items.joined(separator: ",")] }
        }
        if let nics {
            if !nics.isEmpty && chance(0.3) { words += ["iface", pick(nics)] }
        } else if chance(0.3) {
            let iface = interfaceName(int(1...15))
            words += ["iface", chance(0.3) ? String(iface.prefix(14)) + "*" : iface]
        }
        if chance(0.5) { words += ["log", pick(Self.logLevels)] }
        return words.joined(separator: " ")
    }
}
