import SDNModel
import SDNNFTables
import SDNTesting
import Testing

private func ip(_ text: String) -> IPAddress { try! IPAddress(text) }
private func ether(_ text: String) -> MACAddress { try! MACAddress(text) }

private func tcp(_ source: String, _ destination: String, dport: UInt16, flags: Packet.TCPFlags = [.syn], state: Packet.ConnectionState = .new, iif: String = "eth0") -> Packet {
    Packet(iifname: iif, saddr: ip(source), daddr: ip(destination), l4proto: .tcp, sport: 40000, dport: dport, tcpFlags: flags, ctState: state)
}

private func udp(_ source: String, _ destination: String, sport: UInt16 = 40000, dport: UInt16, iif: String = "eth0") -> Packet {
    Packet(iifname: iif, saddr: ip(source), daddr: ip(destination), l4proto: .udp, sport: sport, dport: dport)
}

private func rule(_ id: String, _ statements: Statement..., line: Int? = nil) -> Rule {
    Rule(id: id, statements: statements, origin: line.map { SourceLocation(file: "policy.yaml", line: $0, column: 3) })
}

private func base(_ name: String, _ hook: BaseChain.Hook = .input, priority: Int = 0, policy: BaseChain.Policy = .accept, type: BaseChain.ChainType = .filter, _ rules: [Rule]) -> Chain {
    Chain(name: name, base: BaseChain(type: type, hook: hook, priority: priority, policy: policy), rules: rules)
}

private func inet(_ chains: [Chain], sets: [NamedSet] = [], name: String = "sdn", family: TableFamily = .inet) -> Table {
    Table(family: family, name: name, sets: sets, chains: chains)
}

private let input = PacketInterpreter.HookPoint(.inet, .input)
private let bridgeForward = PacketInterpreter.HookPoint(.bridge, .forward)

private func trace(_ tables: [Table], _ packet: Packet, at point: PacketInterpreter.HookPoint = input) throws(InterpreterError) -> Trace {
    try PacketInterpreter(ruleset: Ruleset(tables: tables)).trace(packet, at: point)
}

@Suite("Packet interpreter")
struct PacketInterpreterTests {
    // MARK: Verdicts and policies

    static let services = inet([base("input", policy: .drop, [
        rule("ssh", match(.payload(.tcpDport), .integer(22)), .counter, .verdict(.accept), line: 4),
        rule("dns", match(.payload(.udpDport), .integer(53)), .reject(.default)),
        rule("telnet", match(.payload(.tcpDport), .integer(23)), .verdict(.drop)),
        rule("reset", match(.payload(.tcpDport), .integer(25)), .reject(.tcpReset)),
    ])])

    @Test func acceptDropRejectAndPolicy() throws {
        #expect(try trace([Self.services], tcp("192.0.2.7", "192.0.2.1", dport: 22)).verdict == .accept)
        #expect(try trace([Self.services], udp("192.0.2.7", "192.0.2.1", dport: 53)).verdict == .reject(.default))
        #expect(try trace([Self.services], tcp("192.0.2.7", "192.0.2.1", dport: 23)).verdict == .drop)
        #expect(try trace([Self.services], tcp("192.0.2.7", "192.0.2.1", dport: 25)).verdict == .reject(.tcpReset))
        let unmatched = try trace([Self.services], tcp("192.0.2.7", "192.0.2.1", dport: 80))
        #expect(unmatched.verdict == .drop)
        #expect(unmatched.steps.map(\.kind) == [.rule, .rule, .rule, .rule, .policy])
        #expect(unmatched.steps.last?.text == "policy drop")
    }

    @Test func stepsCarryRuleTextIdVerdictAndOrigin() throws {
        let result = try trace([Self.services], tcp("192.0.2.7", "192.0.2.1", dport: 22))
        let step = try #require(result.steps.first)
        #expect(step.kind == .rule && step.matched)
        #expect(step.ruleID == "ssh")
        #expect(step.text == NFTTextRenderer.render(Self.services.chains[0].rules[0]))
        #expect(step.action == .verdict(.accept))
        #expect(step.origin == SourceLocation(file: "policy.yaml", line: 4, column: 3))
        #expect((step.family, step.table, step.chain) == (.inet, "sdn", "input"))
        #expect(result.steps.count == 1)
        #expect(result.matchedRuleIDs == ["ssh"])
        let text = result.description
        #expect(text.contains("inet sdn input"))
        #expect(text.contains("match     tcp dport 22 counter accept comment \"ssh\" -> accept  (policy.yaml:4:3)"))
        #expect(text.hasSuffix("verdict: accept"))
    }

    @Test func defaultPolicies() throws {
        let udpPacket = udp("192.0.2.7", "192.0.2.1", dport: 9)
        #expect(try trace([inet([base("input", policy: .drop, [])])], udpPacket).verdict == .drop)
        #expect(try trace([inet([base("input", policy: .accept, [])])], udpPacket).verdict == .accept)
        // No base chain on the hook: the kernel lets the packet through.
        let none = try trace([inet([base("output", .output, policy: .drop, [])])], udpPacket)
        #expect(none.verdict == .accept)
        #expect(none.steps.isEmpty)
    }

    @Test func countersLogAndLimitDoNotDecide() throws {
        let table = inet([base("input", policy: .drop, [
            rule("noisy", .counter, .log(prefix: "x", level: .info), .limit(rate: 1, per: "second", burst: 1)),
            rule("then", .limit(rate: 5, per: "minute", burst: 5), .counter, .verdict(.accept)),
        ])])
        let result = try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9))
        #expect(result.verdict == .accept)
        #expect(result.steps.map(\.matched) == [true, true])
        #expect(result.steps.map(\.action) == [nil, .verdict(.accept)])
    }

    // MARK: jump, goto, return

    static let jumps = inet([
        base("input", policy: .accept, [
            rule("to-sub", match(.payload(.tcpDport), .integer(22)), .verdict(.jump("sub"))),
            rule("to-goto", match(.payload(.tcpDport), .integer(23)), .verdict(.goto("sub"))),
            rule("to-nested", match(.payload(.tcpDport), .integer(24)), .verdict(.jump("outer"))),
            rule("after", match(.meta(.l4proto), .symbol(named: "tcp")), .verdict(.drop)),
        ]),
        Chain(name: "sub", rules: [rule("sub/count", .counter)]),
        Chain(name: "outer", rules: [
            rule("outer/inner", .verdict(.jump("inner"))),
            rule("outer/goto", .verdict(.goto("sub"))),
            rule("outer/unreached", .verdict(.accept)),
        ]),
        Chain(name: "inner", rules: [rule("inner/return", .verdict(.return)), rule("inner/unreached", .verdict(.accept))]),
    ])

    @Test func jumpReturnsToTheNextRule() throws {
        let result = try trace([Self.jumps], tcp("192.0.2.7", "192.0.2.1", dport: 22))
        #expect(result.verdict == .drop)
        #expect(result.steps.map(\.text).map { $0.prefix(9) } == ["tcp dport", "counter c", "end of ch", "tcp dport", "tcp dport", "meta l4pr"])
        #expect(result.steps.map(\.depth) == [0, 1, 1, 0, 0, 0])
        #expect(result.steps.map(\.chain) == ["input", "sub", "sub", "input", "input", "input"])
        #expect(result.steps[2].kind == .chainEnd)
    }

    @Test func gotoDoesNotReturn() throws {
        let result = try trace([Self.jumps], tcp("192.0.2.7", "192.0.2.1", dport: 23))
        // The goto'd chain ends: the base chain's policy decides, "after" is never reached.
        #expect(result.verdict == .accept)
        #expect(result.steps.map(\.ruleID) == ["to-sub", "to-goto", "sub/count", nil, nil])
        #expect(result.steps.map(\.kind) == [.rule, .rule, .rule, .chainEnd, .policy])
    }

    @Test func returnAndGotoInsideJumpedChains() throws {
        let result = try trace([Self.jumps], tcp("192.0.2.7", "192.0.2.1", dport: 24))
        // input → jump outer → jump inner → return → goto sub → sub ends → back to input after the jump.
        #expect(result.verdict == .drop)
        #expect(result.steps.compactMap(\.ruleID) == ["to-sub", "to-goto", "to-nested", "outer/inner", "inner/return", "outer/goto", "sub/count", "after"])
        #expect(result.steps.filter { $0.kind == .rule }.map(\.depth) == [0, 0, 0, 1, 2, 1, 1, 0])
        #expect(!result.matchedRuleIDs.contains("outer/unreached"))
    }

    @Test func returnInABaseChainAppliesItsPolicy() throws {
        let table = inet([base("input", policy: .drop, [rule("back", .verdict(.return)), rule("never", .verdict(.accept))])])
        let result = try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9))
        #expect(result.verdict == .drop)
        #expect(result.steps.map(\.kind) == [.rule, .policy])
    }

    @Test func continueGoesOnToTheNextRule() throws {
        let table = inet([base("input", policy: .drop, [rule("go-on", .verdict(.continue)), rule("ok", .verdict(.accept))])])
        #expect(try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9)).verdict == .accept)
    }

    // MARK: Several base chains on one hook

    @Test func acceptEndsOnlyItsBaseChain() throws {
        let early = inet([base("early", priority: -10, policy: .accept, [rule("all", .verdict(.accept))])], name: "a")
        let late = inet([base("late", priority: 10, policy: .accept, [rule("telnet", match(.payload(.tcpDport), .integer(23)), .verdict(.drop))])], name: "b")
        let middle = inet([base("middle", priority: 0, policy: .accept, [rule("count", .counter)])], name: "c")
        let result = try trace([late, early, middle], tcp("192.0.2.7", "192.0.2.1", dport: 23))
        #expect(result.verdict == .drop)
        #expect(result.steps.map(\.chain) == ["early", "middle", "middle", "late"])
    }

    @Test func dropEndsEveryBaseChain() throws {
        let first = inet([base("first", priority: -10, [rule("drop", .verdict(.drop))])], name: "a")
        let second = inet([base("second", priority: 10, [rule("accept", .verdict(.accept))])], name: "b")
        let result = try trace([second, first], udp("192.0.2.7", "192.0.2.1", dport: 9))
        #expect(result.verdict == .drop)
        #expect(result.steps.map(\.chain) == ["first"])
    }

    @Test func aHookPointWithPrioritiesRunsOnlyTheChainsInThatRange() throws {
        // br_netfilter runs the IP forward hook from inside bridge forward: a split hook is evaluated in parts.
        let table = inet([
            base("before", .forward, priority: -10, [rule("before", .counter)]),
            base("at", .forward, priority: -1, [rule("at", .counter)]),
            base("after", .forward, priority: 10, [rule("after", .counter)]),
        ], family: .bridge)
        let packet = udp("192.0.2.7", "192.0.2.1", dport: 9)
        let early = PacketInterpreter.HookPoint(.bridge, .forward, priorities: Int.min...(-1))
        let late = PacketInterpreter.HookPoint(.bridge, .forward, priorities: 0...Int.max)
        #expect(try trace([table], packet, at: early).steps.compactMap(\.ruleID) == ["before", "at"])
        #expect(try trace([table], packet, at: late).steps.compactMap(\.ruleID) == ["after"])
        #expect(try trace([table], packet, at: bridgeForward).steps.compactMap(\.ruleID) == ["before", "at", "after"])
        #expect(early.priorityDescription == "priority <= -1")
        #expect(late.priorityDescription == "priority >= 0")
        #expect(bridgeForward.priorityDescription == nil)
    }

    @Test func samePriorityRunsInTableOrder() throws {
        let a = inet([base("a", .input, [rule("a", .counter)])], name: "one")
        let b = inet([base("b", .input, [rule("b", .counter)])], name: "two")
        #expect(try trace([a, b], udp("192.0.2.7", "192.0.2.1", dport: 9)).steps.compactMap(\.ruleID) == ["a", "b"])
        #expect(try trace([b, a], udp("192.0.2.7", "192.0.2.1", dport: 9)).steps.compactMap(\.ruleID) == ["b", "a"])
    }

    @Test func inetHooksSeeIPTablesOfThePacketsVersionOnly() throws {
        let tables = [
            inet([base("v4", .input, [rule("v4", .counter)])], name: "t4", family: .ip),
            inet([base("v6", .input, [rule("v6", .counter)])], name: "t6", family: .ip6),
            inet([base("both", .input, [rule("both", .counter)])], name: "t"),
            inet([base("br", .input, [rule("br", .counter)])], name: "b", family: .bridge),
        ]
        #expect(try trace(tables, udp("192.0.2.7", "192.0.2.1", dport: 9)).steps.compactMap(\.ruleID) == ["v4", "both"])
        #expect(try trace(tables, udp("2001:db8::7", "2001:db8::1", dport: 9)).steps.compactMap(\.ruleID) == ["v6", "both"])
        #expect(try trace(tables, udp("192.0.2.7", "192.0.2.1", dport: 9), at: .init(.bridge, .input)).steps.compactMap(\.ruleID) == ["br"])
    }

    @Test func natChainsSeeOnlyNewConnections() throws {
        let table = inet([
            base("pre", .prerouting, priority: -100, type: .nat, [
                rule("dnat", match(.payload(.tcpDport), .integer(80)), .dnat(to: address("10.0.0.5"), port: 8080)),
            ]),
            base("raw", .prerouting, priority: -300, [rule("count", .counter)]),
        ])
        let prerouting = PacketInterpreter.HookPoint(.inet, .prerouting)
        let first = try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 80), at: prerouting)
        #expect(first.verdict == .accept)
        #expect(first.steps.map(\.chain) == ["raw", "raw", "pre"])
        #expect(first.steps.last?.action == .nat(.dnat(to: address("10.0.0.5"), port: 8080)))
        let later = try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 80, flags: [.ack], state: .established), at: prerouting)
        #expect(later.steps.map(\.kind) == [.rule, .policy, .skipped])
    }

    // MARK: Matches

    static let dispatch = inet([
        base("guests-out", .forward, [rule("dispatch", .vmap(.meta(.iifname), map: "guest_out"))]),
        Chain(name: "guest-100-out", rules: [rule("guest-100/web", match(.payload(.tcpDport), .integer(80)), .verdict(.accept)), rule("guest-100/rest", .verdict(.drop))]),
        Chain(name: "guest-101-out", rules: [rule("guest-101/all", .verdict(.accept))]),
    ], sets: [NamedSet(name: "guest_out", keyType: [.interfaceName], data: .verdict, elements: [
        SetElement(key: [.string("tap100i0")], data: .verdict(.jump("guest-100-out"))),
        SetElement(key: [.string("tap101i0")], data: .verdict(.goto("guest-101-out"))),
        SetElement(key: [.string("tap102i0")], data: .verdict(.drop)),
    ])], family: .bridge)

    @Test func verdictMapDispatchesByInputInterface() throws {
        let web = try trace([Self.dispatch], tcp("10.0.0.5", "10.0.0.6", dport: 80, iif: "tap100i0"), at: bridgeForward)
        #expect(web.verdict == .accept)
        #expect(web.steps.map(\.ruleID) == ["dispatch", "guest-100/web"])
        #expect(web.steps[0].action == .verdict(.jump("guest-100-out")))
        #expect(try trace([Self.dispatch], tcp("10.0.0.5", "10.0.0.6", dport: 22, iif: "tap100i0"), at: bridgeForward).verdict == .drop)
        #expect(try trace([Self.dispatch], tcp("10.0.0.5", "10.0.0.6", dport: 22, iif: "tap101i0"), at: bridgeForward).matchedRuleIDs == ["dispatch", "guest-101/all"])
        #expect(try trace([Self.dispatch], tcp("10.0.0.5", "10.0.0.6", dport: 22, iif: "tap102i0"), at: bridgeForward).verdict == .drop)
        // An interface that is not in the map: the rule does not match, the policy decides.
        let other = try trace([Self.dispatch], tcp("10.0.0.5", "10.0.0.6", dport: 22, iif: "eth0"), at: bridgeForward)
        #expect(other.verdict == .accept)
        #expect(other.steps.map(\.matched) == [false, true])
        #expect(other.steps.map(\.kind) == [.rule, .policy])
    }

    /// An IP set with nomatch entries compiles to intervals with the excluded ranges cut out.
    static let intervals = inet([base("input", policy: .drop, [
        rule("allowed", .match(.payload(.ipSaddr), .equal, .setReference("allowed")), .verdict(.accept)),
        rule("not-allowed-v6", .match(.payload(.ip6Saddr), .notEqual, .setReference("allowed_v6")), .verdict(.drop)),
        rule("v6-ok", match(.meta(.nfproto), .symbol(named: "ipv6")), .verdict(.accept)),
    ])], sets: [
        NamedSet(name: "allowed", keyType: [.ipv4Address], flags: [.interval], elements: [
            SetElement(key: [.range(address("10.0.0.0"), address("10.0.0.99"))]),
            SetElement(key: [.range(address("10.0.0.200"), address("10.0.0.255"))]),
            SetElement(key: [prefix("192.168.0.0/16")]),
            SetElement(key: [address("172.16.0.1")]),
        ]),
        NamedSet(name: "allowed_v6", keyType: [.ipv6Address], flags: [.interval], elements: [SetElement(key: [prefix("fd00::/64")])]),
    ])

    @Test(arguments: [
        ("10.0.0.0", true), ("10.0.0.50", true), ("10.0.0.99", true), ("10.0.0.100", false), ("10.0.0.150", false),
        ("10.0.0.199", false), ("10.0.0.200", true), ("10.0.0.255", true), ("10.0.1.0", false), ("192.168.77.1", true),
        ("172.16.0.1", true), ("172.16.0.2", false),
    ])
    func intervalSetsWithExcludedRanges(_ source: String, allowed: Bool) throws {
        let result = try trace([Self.intervals], tcp(source, "10.0.0.1", dport: 22))
        #expect(result.verdict == (allowed ? .accept : .drop))
    }

    @Test func negatedSetLookup() throws {
        #expect(try trace([Self.intervals], tcp("fd00::5", "fd00::1", dport: 22)).verdict == .accept)
        #expect(try trace([Self.intervals], tcp("fd01::5", "fd00::1", dport: 22)).verdict == .drop)
    }

    static let antiSpoofing: Table = {
        let key: [SetKeyType] = [.interfaceName, .etherAddress, .ipv4Address]
        let guestMAC = mac("52:54:00:12:34:56")
        return inet([base("spoof", .forward, priority: -100, [
            rule("ipv4", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .notEqual, .setReference("guest_ipv4")), .counter, .verdict(.drop)),
            rule("arp", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.arpSaddrIP)]), .notEqual, .setReference("guest_ipv4")), .counter, .verdict(.drop)),
            rule("ipv6", .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ip6Saddr)]), .notEqual, .setReference("guest_ipv6")), .counter, .verdict(.drop)),
        ])], sets: [
            NamedSet(name: "guest_ipv4", keyType: key, flags: [.interval], elements: [
                SetElement(key: [.string("tap100i0"), guestMAC, address("10.0.0.5")]),
                SetElement(key: [.string("tap100i0"), guestMAC, prefix("10.1.0.0/24")]),
            ]),
            NamedSet(name: "guest_ipv6", keyType: [.interfaceName, .etherAddress, .ipv6Address], flags: [.interval], elements: [
                SetElement(key: [.string("tap100i0"), guestMAC, prefix("fe80::/64")]),
            ]),
        ], family: .bridge)
    }()

    @Test(arguments: [
        ("tap100i0", "52:54:00:12:34:56", "10.0.0.5", true),
        ("tap100i0", "52:54:00:12:34:56", "10.1.0.77", true),
        ("tap100i0", "52:54:00:12:34:56", "10.0.0.6", false),
        ("tap100i0", "52:54:00:12:34:57", "10.0.0.5", false),
        ("tap101i0", "52:54:00:12:34:56", "10.0.0.5", false),
        ("tap100i0", "52:54:00:12:34:56", "fe80::5054:ff:fe12:3456", true),
        ("tap100i0", "52:54:00:12:34:56", "fe81::1", false),
    ])
    func antiSpoofingWithConcatenatedSets(_ iif: String, _ source: String, _ address: String, passes: Bool) throws {
        var packet = udp(address, address.contains(":") ? "ff02::1" : "10.0.0.255", dport: 67, iif: iif)
        packet.etherSource = ether(source)
        #expect(try trace([Self.antiSpoofing], packet, at: bridgeForward).verdict == (passes ? .accept : .drop))
    }

    @Test func antiSpoofingCoversARP() throws {
        func arp(_ sender: String) -> Packet {
            Packet(iifname: "tap100i0", etherSource: ether("52:54:00:12:34:56"), etherDestination: ether("ff:ff:ff:ff:ff:ff"), network: .arp, saddr: ip(sender), daddr: ip("10.0.0.1"))
        }
        #expect(try trace([Self.antiSpoofing], arp("10.0.0.5"), at: bridgeForward).verdict == .accept)
        let spoofed = try trace([Self.antiSpoofing], arp("10.0.0.1"), at: bridgeForward)
        #expect(spoofed.verdict == .drop)
        #expect(spoofed.matchedRuleIDs == ["arp"])
    }

    static let conntrack = inet([base("input", policy: .drop, [
        rule("ct", match(.ct(.state), .flags(["established", "related"]), .implicit), .verdict(.accept)),
        rule("invalid", match(.ct(.state), .flags(["invalid"]), .implicit), .counter, .verdict(.drop)),
        rule("not-new", match(.ct(.state), .symbol(named: "new"), .notEqual), .verdict(.drop)),
        rule("ssh", match(.payload(.tcpDport), .integer(22)), .verdict(.accept)),
    ])])

    @Test(arguments: [
        (Packet.ConnectionState.established, 23, "ct", PacketVerdict.accept),
        (.related, 23, "ct", .accept),
        (.invalid, 22, "invalid", .drop),
        (.untracked, 22, "not-new", .drop),
        (.new, 22, "ssh", .accept),
    ] as [(Packet.ConnectionState, UInt16, String, PacketVerdict)])
    func connectionState(_ state: Packet.ConnectionState, dport: UInt16, decidedBy id: String, verdict: PacketVerdict) throws {
        let result = try trace([Self.conntrack], tcp("192.0.2.7", "192.0.2.1", dport: dport, state: state))
        #expect(result.verdict == verdict)
        #expect(result.matchedRuleIDs == [id])
    }

    static let icmp = inet([base("input", policy: .drop, [
        rule("echo", match(.payload(.icmpType), .symbol(named: "echo-request")), .verdict(.accept)),
        rule("unreachable", match(.payload(.icmpType), .integer(3)), .verdict(.accept)),
        rule("ndp", .match(.payload(.icmpv6Type), .equal, .set([.symbol(named: "nd-neighbor-solicit"), .symbol(named: "nd-neighbor-advert")])), .verdict(.accept)),
        rule("v6-any", match(.meta(.l4proto), .symbol(named: "ipv6-icmp")), match(.payload(.icmpv6Type), .symbol(named: "echo-request"), .notEqual), .verdict(.drop)),
        rule("v6-echo", match(.meta(.l4proto), .symbol(named: "icmpv6")), .verdict(.accept)),
    ])])

    @Test(arguments: [
        ("192.0.2.7", UInt8(8), "echo", PacketVerdict.accept),
        ("192.0.2.7", 3, "unreachable", .accept),
        ("192.0.2.7", 0, nil, .drop),
        ("2001:db8::7", 135, "ndp", .accept),
        ("2001:db8::7", 134, "v6-any", .drop),
        ("2001:db8::7", 128, "v6-echo", .accept),
        // An ICMPv6 echo request is type 128, and must not match `icmp type echo-request` (type 8).
        ("2001:db8::7", 8, "v6-any", .drop),
    ] as [(String, UInt8, String?, PacketVerdict)])
    func icmpTypes(_ source: String, _ type: UInt8, decidedBy id: String?, verdict: PacketVerdict) throws {
        let v6 = source.contains(":")
        let packet = Packet(iifname: "eth0", saddr: ip(source), daddr: ip(v6 ? "2001:db8::1" : "192.0.2.1"), l4proto: v6 ? .icmpv6 : .icmp, icmpType: type)
        let result = try trace([Self.icmp], packet)
        #expect(result.verdict == verdict)
        #expect(result.matchedRuleIDs == (id.map { [$0] } ?? []))
    }

    static let tcpFlags = inet([base("input", policy: .accept, [
        rule("fin-syn", .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn"]))), .equal, .value(.flags(["fin", "syn"]))), .verdict(.drop)),
        rule("null", .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn", "rst", "psh", "ack", "urg"]))), .equal, .value(.integer(0))), .verdict(.drop)),
        rule("syn-only", .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(["fin", "syn", "rst", "ack"]))), .equal, .value(.flags(["syn"]))), .counter),
        rule("any-rst", match(.payload(.tcpFlags), .flags(["rst"]), .implicit), .reject(.tcpReset)),
        rule("exactly-ack", match(.payload(.tcpFlags), .flags(["ack"])), .verdict(.accept)),
    ])])

    @Test(arguments: [
        (Packet.TCPFlags([.fin, .syn]), ["fin-syn"], PacketVerdict.drop),
        ([], ["null"], .drop),
        ([.syn], ["syn-only"], .accept),
        ([.syn, .ecn, .cwr], ["syn-only"], .accept),
        ([.rst, .ack], ["any-rst"], .reject(.tcpReset)),
        ([.ack], ["exactly-ack"], .accept),
        ([.ack, .psh], [], .accept),
    ] as [(Packet.TCPFlags, [String], PacketVerdict)])
    func tcpFlags(_ flags: Packet.TCPFlags, matching ids: [String], verdict: PacketVerdict) throws {
        let result = try trace([Self.tcpFlags], tcp("192.0.2.7", "192.0.2.1", dport: 80, flags: flags))
        #expect(result.verdict == verdict)
        #expect(result.matchedRuleIDs == ids)
    }

    @Test func fieldsOfOtherProtocolsNeverMatch() throws {
        let table = inet([base("input", policy: .accept, [
            rule("not-v4", match(.payload(.ipSaddr), address("192.0.2.7"), .notEqual), .verdict(.drop)),
            rule("not-ssh", match(.payload(.tcpDport), .integer(22), .notEqual), .verdict(.drop)),
            rule("not-flags", match(.payload(.tcpFlags), .flags(["syn"]), .implicit), .verdict(.drop)),
        ])])
        // IPv6 UDP: no IPv4 header, no TCP header, so even the negated matches fail.
        let result = try trace([table], udp("2001:db8::7", "2001:db8::1", dport: 22))
        #expect(result.verdict == .accept)
        #expect(result.matchedRuleIDs.isEmpty)
    }

    @Test func interfaceWildcardsRangesAndComparisons() throws {
        let table = inet([base("input", policy: .drop, [
            rule("veth", match(.meta(.iifname), .string("veth*")), match(.payload(.tcpDport), .range(.integer(1000), .integer(2000))), .verdict(.accept)),
            rule("high", match(.payload(.tcpDport), .integer(60000), .greaterOrEqual), .verdict(.accept)),
            rule("mark", match(.meta(.mark), .integer(7)), .verdict(.accept)),
            rule("proto", .match(.meta(.l4proto), .equal, .set([.symbol(named: "udp"), .integer(132)])), .verdict(.accept)),
        ])])
        #expect(try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 1500, iif: "veth12")).verdict == .accept)
        #expect(try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 1500, iif: "eth0")).verdict == .drop)
        #expect(try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 2001, iif: "veth12")).verdict == .drop)
        #expect(try trace([table], tcp("192.0.2.7", "192.0.2.1", dport: 60000)).verdict == .accept)
        var marked = tcp("192.0.2.7", "192.0.2.1", dport: 1)
        marked.mark = 7
        #expect(try trace([table], marked).verdict == .accept)
        #expect(try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 1)).verdict == .accept)
        var sctp = tcp("192.0.2.7", "192.0.2.1", dport: 1)
        sctp.l4proto = .sctp
        #expect(try trace([table], sctp).verdict == .accept)
    }

    @Test func packetTypeFromDestinationMAC() throws {
        let table = inet([base("fwd", .forward, [rule("no-broadcast", match(.meta(.pkttype), .symbol(named: "broadcast")), .verdict(.drop))])], family: .bridge)
        var packet = udp("10.0.0.5", "10.0.0.255", dport: 137)
        packet.etherDestination = ether("ff:ff:ff:ff:ff:ff")
        #expect(try trace([table], packet, at: bridgeForward).verdict == .drop)
        packet.etherDestination = ether("52:54:00:00:00:01")
        #expect(try trace([table], packet, at: bridgeForward).verdict == .accept)
    }

    // MARK: What it refuses

    @Test func unknownChainNamesTheRule() throws {
        let table = inet([base("input", .input, [rule("broken", .verdict(.jump("nowhere")), line: 12)])])
        do {
            _ = try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9))
            Issue.record("no error")
        } catch {
            #expect(error.code == .unknownReference)
            #expect(error.ruleID == "broken")
            #expect(error.origin?.line == 12)
            #expect(error.description.contains("chain nowhere does not exist"))
            #expect(error.description.contains(#"rule "broken" in inet sdn input"#))
        }
    }

    @Test func unsupportedExpressionsAreErrorsNotMisses() throws {
        let table = inet([base("input", .input, [rule("iiftype", match(.meta(.iiftype), .symbol(named: "ether")), .verdict(.drop))])])
        #expect(throws: InterpreterError.self) { try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9)) }
        let wrongFamily = inet([base("input", .input, [rule("v6-in-v4", match(.payload(.ipSaddr), prefix("fd00::/8")), .verdict(.drop))])])
        do {
            _ = try trace([wrongFamily], udp("192.0.2.7", "192.0.2.1", dport: 9))
            Issue.record("no error")
        } catch {
            #expect(error.code == .typeMismatch)
        }
    }

    @Test func jumpLoopsHitTheKernelsDepthLimit() throws {
        let table = inet([base("input", .input, [rule("start", .verdict(.jump("a")))]), Chain(name: "a", rules: [rule("loop", .verdict(.jump("a")))])])
        do {
            _ = try trace([table], udp("192.0.2.7", "192.0.2.1", dport: 9))
            Issue.record("no error")
        } catch {
            #expect(error.code == .jumpTooDeep)
        }
    }

    // MARK: The broad ruleset

    @Test func evaluatesEveryConstructOfTheBroadRuleset() throws {
        let interpreter = PacketInterpreter(ruleset: BroadRuleset.ruleset)
        let mgmt = try interpreter.trace(tcp("10.1.2.3", "10.0.0.1", dport: 8006, iif: "eth0"), at: input)
        #expect(mgmt.verdict == .accept)
        #expect(mgmt.matchedRuleIDs == ["node/mgmt-v4"])
        let guest = try interpreter.trace(tcp("192.0.2.9", "10.0.0.1", dport: 22, iif: "tap100i0"), at: input)
        #expect(guest.matchedRuleIDs == ["node/dispatch", "guest-100/ssh"])
        #expect(guest.verdict == .accept)
        let web = try interpreter.trace(tcp("192.0.2.9", "10.0.0.1", dport: 443, iif: "tap100i0"), at: input)
        #expect(web.matchedRuleIDs == ["node/dispatch", "guest-100/group", "group-web/http"])
        // Reaches node-policy through the jump and is refused by the tcp reset rule.
        let other = try interpreter.trace(tcp("10.2.3.4", "10.0.0.1", dport: 3000, flags: [.ack], state: .untracked, iif: "eth1"), at: input)
        #expect(other.verdict == .reject(.tcpReset), "\(other)")
        #expect(other.matchedRuleIDs == ["node/proto-set", "node/log", "node/log-bare", "node/log-warn", "node/policy", "reject-tcp"])
        // Every packet kind through every hook, without an error.
        let packets = [
            tcp("192.0.2.9", "10.0.0.1", dport: 22), udp("2001:db8::1", "fd00::1", dport: 53),
            Packet(iifname: "tap100i0", etherSource: ether("52:54:00:12:34:56"), network: .arp, saddr: ip("10.0.0.5"), daddr: ip("10.0.0.1")),
            Packet(iifname: "tap100i0", oifname: "tap101i0", etherSource: ether("52:54:00:12:34:56"), saddr: ip("fe80::1"), daddr: ip("ff02::1"), l4proto: .icmpv6, icmpType: 134),
        ]
        for packet in packets {
            for family in [TableFamily.inet, .bridge] {
                for hook in [BaseChain.Hook.prerouting, .input, .forward, .output, .postrouting] {
                    _ = try interpreter.trace(packet, at: .init(family, hook))
                }
            }
        }
    }
}

@Suite("Packet scalars round-trip through text")
struct PacketScalarTests {
    @Test(arguments: [Packet.TCPFlags([]), [.syn], [.syn, .ack], [.fin, .psh, .urg], Packet.TCPFlags(rawValue: 0xff)])
    func tcpFlagsRoundTripThroughNftNames(_ flags: Packet.TCPFlags) throws {
        let names = flags.description.split(separator: ",").map(String.init)
        #expect(Packet.TCPFlags(names: names) == flags)
    }

    @Test func unknownFlagNamesAreRefused() {
        #expect(Packet.TCPFlags(names: ["syn", "bogus"]) == nil)
    }

    @Test func networkDefaultsToTheAddressFamily() throws {
        #expect(Packet(saddr: try IPAddress("192.0.2.1")).ipVersion == 4)
        #expect(Packet(daddr: try IPAddress("2001:db8::1")).ipVersion == 6)
        #expect(Packet(network: .arp, saddr: try IPAddress("192.0.2.1")).ipVersion == nil)
        #expect(Packet().network == nil)
    }

    @Test func verdictsPrintAsNft() {
        #expect(PacketVerdict.accept.description == "accept")
        #expect(PacketVerdict.reject(.icmpx("admin-prohibited")).description == "reject with icmpx admin-prohibited")
        #expect(Trace.Action.verdict(.jump("x")).description == "jump x")
        #expect(Trace.Action.nat(.masquerade).description == "masquerade")
    }
}
