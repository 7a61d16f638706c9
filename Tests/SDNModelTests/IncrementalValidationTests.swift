import SDNModel
import Testing

/// `Validated.replacingGuestPolicy` / `removingGuestPolicy` check one guest policy only; their outcome
/// must be exactly what validating the whole changed state reports.
@Suite struct IncrementalValidationTests {
    /// Two guests (one with a policy), a group, an alias, an IP set, and a warning elsewhere (an address
    /// outside the vnet's subnets) that incremental validation must keep.
    func validated() throws -> Validated<DesiredState> {
        var firewall = FirewallConfig()
        firewall.aliases = [Alias(name: "office", cidr: try IPPrefix("203.0.113.0/24"))]
        firewall.ipsets = [IPSet(name: "admins", entries: [IPSet.Entry(value: .prefix(try IPPrefix("192.0.2.0/28")))])]
        firewall.groups = [SecurityGroup(name: "web", rules: [rule("http", .in, .accept, proto: .tcp, dport: [PortRange(80)])])]
        var policy = FirewallPolicy(scope: .guest(100))
        policy.rules = [FirewallRule(id: "grp", hasExplicitID: true, body: .group(name: "web", iface: nil)), rule("ssh", .in, .accept, proto: .tcp, dport: [PortRange(22)], source: [.reference("admins")])]
        firewall.guests = [policy]
        let state = DesiredState(
            nodes: [Node(name: "n1", address: try IPAddress("192.0.2.1"))],
            zones: [Zone(name: "local", kind: .simple)],
            vnets: [VNet(name: "web", zone: "local", subnets: [Subnet(cidr: try IPPrefix("10.0.0.0/24"))])],
            guests: [
                Guest(id: 100, name: "a", kind: .kvm, node: "n1", nics: [GuestNIC(index: 0, attachment: .vnet("web"), ips: [try IPPrefix("10.0.0.10/32")])]),
                Guest(id: 101, name: "b", kind: .kvm, node: "n1", nics: [GuestNIC(index: 0, attachment: .vnet("web"), ips: [try IPPrefix("10.9.0.10/32")])]),
            ],
            firewall: firewall)
        let outcome = state.validate()
        #expect(outcome.diagnostics.map(\.code) == [.ipOutsideSubnets])
        return try #require(outcome.validated)
    }

    func rule(_ id: String, _ direction: Direction, _ action: RuleAction, proto: IPProtocolName? = nil, dport: [PortRange] = [],
              source: [AddressMatch] = [], iface: String? = nil) -> FirewallRule {
        FirewallRule(id: id, hasExplicitID: true, body: .match(RuleMatch(direction: direction, action: action, proto: proto, source: source, dport: dport, iface: iface)))
    }

    /// The same state changed in place and validated whole.
    func fullOutcome(_ validated: Validated<DesiredState>, replacing policy: FirewallPolicy) -> ValidationOutcome {
        var state = validated.value
        if let index = state.firewall.guests.firstIndex(where: { $0.scope == policy.scope }) {
            state.firewall.guests[index] = policy
        } else {
            state.firewall.guests.append(policy)
        }
        return state.validate()
    }

    func expectSame(_ incremental: ValidationOutcome, _ full: ValidationOutcome) {
        #expect(incremental.diagnostics == full.diagnostics)
        #expect((incremental.validated == nil) == (full.validated == nil))
        #expect(incremental.validated?.value == full.validated?.value)
        #expect(incremental.validated?.diagnostics == full.validated?.diagnostics)
    }

    @Test func aValidChangeGivesTheSameStateAndDiagnostics() throws {
        let before = try validated()
        var policy = try #require(before.value.firewall.guests.first)
        policy.rules.append(rule("dns", .out, .accept, proto: .udp, dport: [PortRange(53)], source: [.reference("office")]))
        policy.options.ipfilter = true
        let outcome = before.replacingGuestPolicy(policy)
        expectSame(outcome, fullOutcome(before, replacing: policy))
        #expect(outcome.validated?.value.firewall.guests.first == policy)
    }

    @Test(arguments: ["undefined-set", "undefined-group", "missing-nic", "forward-rule", "ports-without-protocol", "failsafe-option"])
    func aBrokenPolicyIsReportedAsFullValidationReportsIt(_ problem: String) throws {
        let before = try validated()
        var policy = try #require(before.value.firewall.guests.first)
        switch problem {
        case "undefined-set": policy.rules.append(rule("x", .in, .drop, source: [.reference("nosuchset")]))
        case "undefined-group": policy.rules.append(FirewallRule(id: "g2", hasExplicitID: true, body: .group(name: "nosuchgroup", iface: nil)))
        case "missing-nic": policy.rules.append(rule("x", .in, .accept, proto: .tcp, dport: [PortRange(443)], iface: "net7"))
        case "forward-rule": policy.rules.append(rule("x", .forward, .accept))
        case "ports-without-protocol": policy.rules.append(rule("x", .in, .accept, dport: [PortRange(443)]))
        default: policy.options.failsafe = false
        }
        let outcome = before.replacingGuestPolicy(policy)
        #expect(outcome.validated == nil)
        #expect(outcome.diagnostics.hasErrors)
        expectSame(outcome, fullOutcome(before, replacing: policy))
    }

    @Test func aNewPolicyForAGuestWithoutOne() throws {
        let before = try validated()
        var policy = FirewallPolicy(scope: .guest(101))
        policy.rules = [rule("web", .in, .accept, proto: .tcp, dport: [PortRange(443)])]
        expectSame(before.replacingGuestPolicy(policy), fullOutcome(before, replacing: policy))
    }

    @Test func aPolicyForAGuestThatDoesNotExist() throws {
        let before = try validated()
        let outcome = before.replacingGuestPolicy(FirewallPolicy(scope: .guest(999)))
        #expect(outcome.diagnostics.contains { $0.code == .undefinedReference })
        expectSame(outcome, fullOutcome(before, replacing: FirewallPolicy(scope: .guest(999))))
    }

    @Test func fixingABrokenPolicyThroughAValidatedStateIsNotPossibleButChainedChangesAre() throws {
        let before = try validated()
        var policy = try #require(before.value.firewall.guests.first)
        policy.rules.append(rule("dns", .out, .accept, proto: .udp, dport: [PortRange(53)]))
        let first = try #require(before.replacingGuestPolicy(policy).validated)
        policy.rules.removeFirst()
        let second = first.replacingGuestPolicy(policy)
        expectSame(second, fullOutcome(before, replacing: policy))
    }

    @Test func removingAPolicy() throws {
        let before = try validated()
        let outcome = before.removingGuestPolicy(of: 100)
        var state = before.value
        state.firewall.guests.removeAll()
        expectSame(outcome, state.validate())
        #expect(before.removingGuestPolicy(of: 555).validated?.value == before.value)
    }

    @Test func aNonGuestPolicyIsValidatedWhole() throws {
        let before = try validated()
        var cluster = before.value.firewall.cluster
        cluster.rules = [rule("x", .in, .accept, source: [.reference("nosuch")])]
        let outcome = before.replacingGuestPolicy(cluster)
        var state = before.value
        state.firewall.cluster = cluster
        expectSame(outcome, state.validate())
        #expect(outcome.validated == nil)
    }
}
