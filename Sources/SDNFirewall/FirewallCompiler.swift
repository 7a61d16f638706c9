import Dispatch
import SDNHostNetwork
public import SDNModel
import Synchronization
public import SDNNFTables

/// The compiled firewall of one node: one ruleset in our two tables, plus compiler findings.
public struct CompiledFirewall: Sendable {
    public var ruleset: Ruleset
    /// Warnings, and errors (`lockout`) that forbid applying this ruleset.
    public var diagnostics: [Diagnostic]
}

/// `Validated<DesiredState>` → the nftables ruleset of one node. Pure and deterministic: the same input
/// compiles to byte-identical output.
///
/// Layout:
/// - `table inet sdn`: node `input`/`output`/`forward` base chains (conntrack, failsafe, cluster and node
///   policy chains, default policies) and `postrouting` NAT (SNAT of subnets that ask for it).
/// - `table bridge sdn`: stateless anti-spoofing of every guest NIC on the bridge prerouting hook
///   (`iifname vmap @guest_spoof`: MAC, IPv4/ARP/IPv6 source through concatenated sets, RA and DHCP-server
///   guards).
/// - Stateful guest policy: one chain per guest NIC and direction, reached in O(1) through verdict maps
///   from two base chains (outbound first, then inbound, so `accept` in the sender's chain still lets the
///   receiver's chain run). Where they live depends on the kernel (`GuestFirewallMode`): in `bridge sdn`
///   keyed by port, or in `inet sdn` keyed by the NIC's MAC under br_netfilter. Security groups are chains
///   of their own, jumped to, and exist once however many guests use them.
public enum FirewallCompiler {
    /// Compiles the ruleset of `nodeName`, blocking the calling thread until it is done: the guests'
    /// pieces and the lint run on up to `parallelism.width` Dispatch threads. For the CLI and the
    /// benchmarks; a caller on Swift concurrency's cooperative pool uses the `async` variant.
    public static func compile(_ validated: Validated<DesiredState>, node nodeName: String, features: KernelFeatures = .full,
                               parallelism: Parallelism = .automatic) -> CompiledFirewall {
        // The lint reads only the policy: it runs beside the build (10,000 guest policies take a while).
        let shadowFindings = Mutex<[Diagnostic]>([])
        let lint = DispatchGroup()
        let runLint: @Sendable () -> Void = {
            let findings = ShadowLint.findings(in: validated.value, parallelism: parallelism)
            shadowFindings.withLock { $0 = findings }
        }
        if parallelism.width > 1 { DispatchQueue.global().async(group: lint, execute: runLint) } else { runLint() }
        var builder = Builder(state: validated.value, nodeName: nodeName, features: features)
        builder.build(parallelism: parallelism)
        let ruleset = Ruleset(tables: [builder.inet, builder.bridge])
        let lockout = LockoutCheck.findings(ruleset: ruleset, state: validated.value, node: nodeName)
        lint.wait()
        return CompiledFirewall(ruleset: ruleset, diagnostics: lockout + builder.diagnostics + shadowFindings.withLock { $0 })
    }

    /// The same compile, byte for byte, for a caller on Swift concurrency's cooperative pool (the daemon):
    /// the lint and the guests' pieces run as child tasks, so no thread of the pool blocks waiting for them.
    public static func compile(_ validated: Validated<DesiredState>, node nodeName: String, features: KernelFeatures = .full,
                               parallelism: Parallelism = .automatic) async -> CompiledFirewall {
        // Serial: nothing to wait for, so the synchronous compile (named by its type: a plain call here
        // would pick this async overload) never blocks.
        guard parallelism.width > 1 else {
            let synchronous: (Validated<DesiredState>, String, KernelFeatures, Parallelism) -> CompiledFirewall = compile(_:node:features:parallelism:)
            return synchronous(validated, nodeName, features, .serial)
        }
        async let shadowFindings = ShadowLint.findings(in: validated.value, parallelism: parallelism)
        var builder = Builder(state: validated.value, nodeName: nodeName, features: features)
        builder.build(guestChunks: await builder.guestChunks(parallelism: parallelism))
        let ruleset = Ruleset(tables: [builder.inet, builder.bridge])
        let lockout = LockoutCheck.findings(ruleset: ruleset, state: validated.value, node: nodeName)
        return CompiledFirewall(ruleset: ruleset, diagnostics: lockout + builder.diagnostics + (await shadowFindings))
    }

    /// The node to compile for when none is named: the only node, or nil when there are several.
    public static func defaultNode(of state: DesiredState) -> String? {
        state.nodes.count == 1 ? state.nodes[0].name : nil
    }
}

struct Builder {
    let state: DesiredState
    let nodeName: String
    let features: KernelFeatures
    let firewall: FirewallConfig
    var diagnostics: [Diagnostic] = []
    var inet = Table(family: .inet, name: FirewallNaming.tableName)
    var bridge = Table(family: .bridge, name: FirewallNaming.tableName)
    let ipSetFamilies: [String: Set<IPAddress.Family>]
    /// Lookups built once: with 10,000 guests, a linear search per guest would dominate the compile.
    let guestPolicies: [Int: FirewallPolicy]
    let clusterOptions: ResolvedFirewallOptions
    let aliasIndex: [String: Alias]
    var usedGroups: [TableFamily: Set<String>] = [:]
    var sharedSets = SharedSetUse()
    /// Named sets (IP sets) the rules of each table reference: the others are left out.
    var referencedSets: [TableFamily: Set<String>] = [:]

    /// - Parameter guestIDs: when given, only these guests will be compiled (`fragment(for:)`), and only
    ///   their policies are indexed: one guest's update must not cost a pass over 10,000 policies.
    init(state: DesiredState, nodeName: String, features: KernelFeatures, guestIDs: Set<Int>? = nil) {
        self.state = state
        self.nodeName = nodeName
        self.features = features
        self.firewall = state.firewall
        var families: [String: Set<IPAddress.Family>] = [:]
        for set in state.firewall.ipsets {
            families[set.name] = Builder.families(of: set, aliases: state.firewall.aliases)
        }
        ipSetFamilies = families
        var policies: [Int: FirewallPolicy] = [:]
        for policy in state.firewall.guests {
            guard case .guest(let id) = policy.scope, guestIDs?.contains(id) ?? true, policies[id] == nil else { continue }
            policies[id] = policy
        }
        guestPolicies = policies
        clusterOptions = state.firewall.resolvedOptions(for: .cluster)
        aliasIndex = Dictionary(state.firewall.aliases.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The address families an IP set has entries of once its exclusions are applied (each family is a
    /// separate nft set). Without exclusions every included entry counts, which needs no interval merge.
    static func families(of set: IPSet, aliases: [Alias]) -> Set<IPAddress.Family> {
        guard !set.entries.contains(where: \.excluded) else {
            return Set(intervals(of: set, aliases: aliases).filter { !$0.value.intervals.isEmpty }.map(\.key))
        }
        var result = Set<IPAddress.Family>()
        for entry in set.entries {
            switch entry.value {
            case .prefix(let prefix): result.insert(prefix.family)
            case .range(let range): result.insert(range.family)
            case .alias(let name): if let alias = aliases.first(where: { $0.name == name }) { result.insert(alias.cidr.family) }
            }
            if result.count == 2 { break }
        }
        return result
    }

    static func intervals(of set: IPSet, aliases: [Alias]) -> [IPAddress.Family: AddressIntervals] {
        var result: [IPAddress.Family: AddressIntervals] = [:]
        func ranges(_ entry: IPSet.Entry) -> [(IPAddress.Family, ClosedRange<UInt128>)] {
            switch entry.value {
            case .prefix(let prefix): [(prefix.family, AddressIntervals.range(of: prefix))]
            case .range(let range): [(range.family, AddressIntervals.range(of: range))]
            case .alias(let name): aliases.first { $0.name == name }.map { [($0.cidr.family, AddressIntervals.range(of: $0.cidr))] } ?? []
            }
        }
        var included: [IPAddress.Family: [ClosedRange<UInt128>]] = [:]
        for entry in set.entries where !entry.excluded {
            for (family, range) in ranges(entry) { included[family, default: []].append(range) }
        }
        for (family, list) in included { result[family] = AddressIntervals(family: family, ranges: list) }
        for entry in set.entries where entry.excluded {
            for (family, range) in ranges(entry) { result[family]?.remove(range) }
        }
        return result
    }

    /// Builds the whole ruleset, the guests' pieces on `parallelism` threads (blocking until they are done).
    mutating func build(parallelism: Parallelism = .automatic) {
        build(guestChunks: guestChunks(parallelism: parallelism))
    }

    /// Builds the whole ruleset around the guests' pieces, compiled beforehand by `guestChunks(parallelism:)`.
    mutating func build(guestChunks: [GuestChunk]) {
        let node = state.node(named: nodeName)
        let clusterOptions = firewall.resolvedOptions(for: .cluster)
        let nodeOptions = firewall.resolvedOptions(for: .node(nodeName))
        let ipSets = ipSetDefinitions()
        inet.sets += ipSets
        bridge.sets += ipSets
        buildNodeTable(node: node, options: nodeOptions, clusterEnabled: clusterOptions.enable)
        buildGuests(options: clusterOptions, chunks: guestChunks)
        addGroupChains()
        // Unused IP sets stay out of each table, to keep the ruleset minimal.
        for family in [TableFamily.inet, .bridge] {
            let referenced = referencedSets[family] ?? []
            let shared = sharedSets.definitions(for: family)
            func finish(_ table: inout Table) {
                table.sets.removeAll { $0.name.hasPrefix("ipset_") && !referenced.contains($0.name) }
                table.sets.insert(contentsOf: shared, at: 0)
            }
            if family == .inet { finish(&inet) } else { finish(&bridge) }
        }
    }

    // MARK: sets

    /// Every IP set as nft sets (one per family), in name order; each table keeps those it references.
    private func ipSetDefinitions() -> [NamedSet] {
        var sets: [NamedSet] = []
        for set in firewall.ipsets.sorted(by: { $0.name < $1.name }) {
            let intervals = Builder.intervals(of: set, aliases: firewall.aliases)
            for family in [IPAddress.Family.ipv4, .ipv6] {
                guard let values = intervals[family]?.values, !values.isEmpty else { continue }
                sets.append(NamedSet(
                    name: FirewallNaming.ipSet(set.name, family), keyType: [family == .ipv4 ? .ipv4Address : .ipv6Address],
                    flags: [.interval], elements: values.map { SetElement(key: [$0]) }))
            }
        }
        return sets
    }

    // MARK: inet sdn (the node itself)

    private mutating func buildNodeTable(node: SDNModel.Node?, options: ResolvedFirewallOptions, clusterEnabled: Bool) {
        let enabled = clusterEnabled && options.enable
        var compiler = RuleCompiler(firewall: firewall, tableFamily: .inet, logRateLimit: options.logRateLimit, ipSetFamilies: ipSetFamilies, aliases: aliasIndex)
        let management = node?.management ?? []
        for family in [IPAddress.Family.ipv4, .ipv6] {
            var intervals = AddressIntervals(family: family)
            for prefix in management where prefix.family == family { intervals.insert(AddressIntervals.range(of: prefix)) }
            if !intervals.intervals.isEmpty {
                inet.sets.append(NamedSet(name: family == .ipv4 ? FirewallNaming.managementSetV4 : FirewallNaming.managementSetV6,
                                          keyType: [family == .ipv4 ? .ipv4Address : .ipv6Address], flags: [.interval],
                                          elements: intervals.values.map { SetElement(key: [$0]) }))
            }
        }

        // Policy chains: cluster then node, per direction.
        var policyChains: [Direction: [String]] = [:]
        let nodePolicy = firewall.policy(for: .node(nodeName))
        for direction in Direction.allCases {
            let clusterName = direction == .in ? FirewallNaming.clusterIn : direction == .out ? FirewallNaming.clusterOut : FirewallNaming.clusterForward
            let nodeChainName = FirewallNaming.nodeChain(nodeName, direction)
            for (name, policy) in [(clusterName, Optional(firewall.cluster)), (nodeChainName, nodePolicy)] {
                guard let policy, policy.rules.contains(where: { $0.appliesTo(direction) }) else { continue }
                var rules: [Rule] = []
                for rule in policy.rules {
                    rules += compiler.compile(rule, placement: .init(chain: name, direction: direction,
                                                                      interfaceKey: direction == .out ? .oifname : .iifname, logScope: name))
                    if case .group(let group, _) = rule.body, rule.enabled { usedGroups[.inet, default: []].insert(group) }
                }
                inet.chains.append(Chain(name: name, rules: rules))
                policyChains[direction, default: []].append(name)
            }
        }
        diagnostics += compiler.diagnostics
        referencedSets[.inet, default: []].formUnion(compiler.referencedSets)

        let ctRules = conntrackRules(prefix: "node", allowInvalid: options.allowInvalid)
        // input
        var input: [Rule] = [Rule(id: "node/lo", statements: [.match(.meta(.iifname), .equal, .value(.string("lo"))), .verdict(.accept)])]
        input += ctRules
        input += failsafeRules(node: node, options: options)
        input += underlayRules()
        if options.nosmurfs { input += smurfRules(prefix: "node", family: .inet, sets: &sharedSets) }
        if options.tcpflags { input += tcpFlagRules(prefix: "node") }
        input.append(Rule(id: "node/ndp", statements: [sharedSets.match(.ndp, in: .inet), .verdict(.accept)]))
        input += (policyChains[.in] ?? []).map { Rule(id: "node/in/\($0)", statements: [.verdict(.jump($0))]) }
        input += defaultPolicy(options.policyIn, level: options.logLevelIn, scope: "node-in", rate: options.logRateLimit)
        // output
        var output = conntrackRules(prefix: "node-out", allowInvalid: options.allowInvalid)
        output.insert(Rule(id: "node-out/lo", statements: [.match(.meta(.oifname), .equal, .value(.string("lo"))), .verdict(.accept)]), at: 0)
        // Neighbour discovery is untracked, so no ct rule accepts it: a drop or reject output policy
        // would cut the node off its IPv6 neighbours.
        output.append(Rule(id: "node-out/ndp", statements: [sharedSets.match(.ndp, in: .inet), .verdict(.accept)]))
        output += (policyChains[.out] ?? []).map { Rule(id: "node/out/\($0)", statements: [.verdict(.jump($0))]) }
        output += defaultPolicy(options.policyOut, level: options.logLevelOut, scope: "node-out", rate: options.logRateLimit)
        // forward (routed traffic of simple zones and vnet forward policies)
        var forward = conntrackRules(prefix: "node-fwd", allowInvalid: options.allowInvalid)
        // Under br_netfilter (always in `minimal`; in `full` when another program turns it on), traffic
        // bridged between guests also reaches this hook, in and out on the same bridge. Guest and vnet chains
        // have judged it already; the node's forward policy is for routed traffic.
        let bridges = guestBridges
        if !bridges.isEmpty {
            inet.sets.append(NamedSet(name: FirewallNaming.bridgedPairs, keyType: [.interfaceName, .interfaceName],
                                      elements: bridges.map { SetElement(key: [.string($0), .string($0)]) }))
            forward.insert(Rule(id: "node-fwd/bridged", statements: [Builder.bridgedMatch, .verdict(.accept)]), at: 0)
        }
        forward += (policyChains[.forward] ?? []).map { Rule(id: "node/fwd/\($0)", statements: [.verdict(.jump($0))]) }
        forward += defaultPolicy(options.policyForward, level: options.logLevelForward, scope: "node-fwd", rate: options.logRateLimit)

        if !enabled {
            input = [Rule(id: "node/disabled", statements: [.verdict(.accept)])]
            output = [Rule(id: "node-out/disabled", statements: [.verdict(.accept)])]
            forward = [Rule(id: "node-fwd/disabled", statements: [.verdict(.accept)])]
        }
        let bases = [
            Chain(name: FirewallNaming.nodeInput, base: BaseChain(type: .filter, hook: .input, priority: 0, policy: .accept), rules: input),
            Chain(name: FirewallNaming.nodeOutput, base: BaseChain(type: .filter, hook: .output, priority: 0, policy: .accept), rules: output),
            Chain(name: FirewallNaming.nodeForward, base: BaseChain(type: .filter, hook: .forward, priority: 0, policy: .accept), rules: forward),
            Chain(name: FirewallNaming.natPostrouting, base: BaseChain(type: .nat, hook: .postrouting, priority: 100, policy: .accept), rules: natRules()),
        ]
        inet.chains = bases + inet.chains
    }

    /// The bridges guests of this node sit on: the vnet bridges of its zones and the bridges its guests'
    /// NICs name, sorted.
    var guestBridges: [String] {
        var bridges = Set<String>()
        for vnet in state.vnets where state.zone(named: vnet.zone)?.includes(node: nodeName) == true {
            bridges.insert(InterfaceNaming.vnetBridge(vnet.name))
        }
        for guest in state.guests where guest.node == nodeName {
            for nic in guest.nics { if case .bridge(let bridge) = nic.attachment { bridges.insert(bridge.rawValue) } }
        }
        return bridges.sorted()
    }

    static let bridgedMatch: Statement = .match(.concat([.meta(.iifname), .meta(.oifname)]), .equal, .setReference(FirewallNaming.bridgedPairs))

    private func conntrackRules(prefix: String, allowInvalid: Bool) -> [Rule] {
        var rules = [Rule(id: prefix + "/ct-established", statements: Builder.acceptEstablished)]
        if !allowInvalid {
            rules.append(Rule(id: prefix + "/ct-invalid", statements: Builder.dropInvalid))
        }
        return rules
    }

    // Statements every guest NIC's chains repeat, built once (800,000 rules are mostly such).
    static let acceptEstablished: [Statement] = [.match(.ct(.state), .implicit, .value(.flags(["established", "related"]))), .verdict(.accept)]
    static let dropInvalid: [Statement] = [.match(.ct(.state), .implicit, .value(.flags(["invalid"]))), .counter, .verdict(.drop)]
    static let acceptNDP: [Statement] = [SharedSet.ndp.match, .verdict(.accept)]
    static let acceptHostNDP: [Statement] = [SharedSet.ndpHost.match, .verdict(.accept)]
    static let dhcpClientOut: [Statement] = [
        .match(.payload(.udpSport), .equal, .value(.integer(68))),
        .match(.payload(.udpDport), .equal, .value(.integer(67))), .verdict(.accept)]
    static let dhcpClientIn: [Statement] = [
        .match(.payload(.udpSport), .equal, .value(.integer(67))),
        .match(.payload(.udpDport), .equal, .value(.integer(68))), .verdict(.accept)]
    static let dropSmurfs: [Statement] = [SharedSet.smurfSources.match, .counter, .verdict(.drop)]
    static let countAccept: [Statement] = [.counter, .verdict(.accept)]
    static let countDrop: [Statement] = [.counter, .verdict(.drop)]

    private mutating func failsafeRules(node: SDNModel.Node?, options: ResolvedFirewallOptions) -> [Rule] {
        guard options.failsafe, let node else { return [] }
        let ports: Expression = .set([.integer(22), .integer(Int(node.apiPort))])
        if node.management.isEmpty {
            diagnostics.append(.warning(.failsafeOpen, "node '\(node.name)' has no management networks, so the failsafe keeps SSH (22) and the API (\(node.apiPort)) open to everyone",
                                        at: state.sources.location(of: ConfigPath.topology / "nodes" / node.name), path: "nodes.\(node.name)",
                                        hint: "list the networks you manage the node from under management:"))
            return [Rule(id: "node/failsafe", statements: [.match(.payload(.tcpDport), .equal, ports), .counter, .verdict(.accept)])]
        }
        var rules: [Rule] = []
        if node.management.contains(where: { $0.family == .ipv4 }) {
            rules.append(Rule(id: "node/failsafe-v4", statements: [.match(.payload(.ipSaddr), .equal, .setReference(FirewallNaming.managementSetV4)),
                                                                   .match(.payload(.tcpDport), .equal, ports), .counter, .verdict(.accept)]))
        }
        if node.management.contains(where: { $0.family == .ipv6 }) {
            rules.append(Rule(id: "node/failsafe-v6", statements: [.match(.payload(.ip6Saddr), .equal, .setReference(FirewallNaming.managementSetV6)),
                                                                   .match(.payload(.tcpDport), .equal, ports), .counter, .verdict(.accept)]))
        }
        return rules
    }

    /// VXLAN from the other nodes of each VXLAN and EVPN zone on this node: the overlay is infrastructure
    /// the topology declares, and a drop input policy (the default) must not cut it.
    private func underlayRules() -> [Rule] {
        var peersByPort: [UInt16: Set<IPAddress>] = [:]
        for zone in state.zones where zone.includes(node: nodeName) {
            let otherNodes = state.nodes(of: zone).filter { $0.name != nodeName }.compactMap(\.address)
            switch zone.kind {
            case .vxlan(let vxlan):
                if case .addresses(let peers) = vxlan.peers {
                    let own = state.node(named: nodeName)?.address
                    peersByPort[vxlan.port, default: []].formUnion(peers.filter { $0 != own })
                } else {
                    peersByPort[vxlan.port, default: []].formUnion(otherNodes)
                }
            case .evpn(let evpn):
                peersByPort[evpn.port, default: []].formUnion(otherNodes)
            default:
                continue
            }
        }
        var rules: [Rule] = []
        for (port, peers) in peersByPort.sorted(by: { $0.key < $1.key }) {
            for family in [IPAddress.Family.ipv4, .ipv6] {
                let addresses = peers.filter { $0.family == family }.sorted()
                guard !addresses.isEmpty else { continue }
                let source: Expression = addresses.count == 1 ? .value(.address(addresses[0])) : .set(addresses.map { .address($0) })
                rules.append(Rule(id: "node/vxlan-\(port)-\(family == .ipv4 ? "v4" : "v6")", statements: [
                    .match(.payload(.address(ipv6: family == .ipv6, destination: false)), .equal, source),
                    .match(.payload(.udpDport), .equal, .value(.integer(Int(port)))), .counter, .verdict(.accept)]))
            }
        }
        return rules
    }

    private func smurfRules(prefix: String, family: TableFamily, sets: inout SharedSetUse) -> [Rule] {
        _ = sets.match(.smurfSources, in: family)
        return [Rule(id: prefix + "/nosmurfs", statements: Builder.dropSmurfs)]
    }

    private func tcpFlagRules(prefix: String) -> [Rule] {
        // Illegal flag combinations, as Proxmox's tcpflags option drops them.
        let combinations: [([String], [String])] = [
            (["fin", "syn"], ["fin", "syn"]), (["syn", "rst"], ["syn", "rst"]), (["fin", "rst"], ["fin", "rst"]),
            (["fin", "syn", "rst", "psh", "ack", "urg"], ["fin", "psh", "urg"]), (["fin", "syn", "rst", "psh", "ack", "urg"], []),
        ]
        return combinations.enumerated().map { index, pair in
            Rule(id: "\(prefix)/tcpflags-\(index)", statements: [
                .match(.bitwiseAnd(.payload(.tcpFlags), .value(.flags(pair.0))), .equal, .value(pair.1.isEmpty ? .integer(0) : .flags(pair.1))),
                .counter, .verdict(.drop),
            ])
        }
    }

    private func defaultPolicy(_ policy: DefaultPolicy, level: LogLevel, scope: String, rate: LogRateLimit) -> [Rule] {
        var rules: [Rule] = []
        if level != .nolog && policy != .accept {
            rules.append(Rule(id: "\(scope)/policy-log", statements: [.limit(rate: rate.rate, per: rate.unit.rawValue, burst: rate.burst),
                                                                     .log(prefix: "sdn \(scope) policy \(policy.rawValue.uppercased()): ", level: level)]))
        }
        switch policy {
        case .accept: rules.append(Rule(id: scope + "/policy", statements: Builder.countAccept))
        case .drop: rules.append(Rule(id: scope + "/policy", statements: Builder.countDrop))
        case .reject:
            rules.append(Rule(id: "\(scope)/policy-tcp", statements: [.match(.meta(.l4proto), .equal, .value(.symbol(.tcp))), .counter, .reject(.tcpReset)]))
            rules.append(Rule(id: "\(scope)/policy", statements: [.counter, .reject(.default)]))
        }
        return rules
    }

    private func natRules() -> [Rule] {
        var rules: [Rule] = []
        // Masquerade only what leaves the node's vnets: traffic between two vnets keeps its source.
        let localBridges: [Value] = state.vnets.filter { state.zone(named: $0.zone)?.includes(node: nodeName) == true }
            .map { .string(InterfaceNaming.vnetBridge($0.name)) }.sorted()
        for vnet in state.vnets {
            guard let zone = state.zone(named: vnet.zone), zone.includes(node: nodeName) else { continue }
            for subnet in vnet.subnets where subnet.snat {
                let isIPv6 = subnet.cidr.family == .ipv6
                let network = Value.prefix(subnet.cidr.masked)
                rules.append(Rule(id: "nat/\(vnet.name)/\(subnet.cidr.masked)", statements: [
                    .match(.payload(.address(ipv6: isIPv6, destination: false)), .equal, .value(network)),
                    .match(.payload(.address(ipv6: isIPv6, destination: true)), .notEqual, .value(network)),
                    .match(.meta(.oifname), .notEqual, localBridges.count == 1 ? .value(localBridges[0]) : .set(localBridges)),
                    .counter, .masquerade,
                ]))
            }
        }
        return rules
    }

    // MARK: guests

    /// This node's guests in guest order, in pieces that compile independently (a few per thread, so that
    /// one slow piece does not leave a thread idle).
    private func guestPieces(width: Int) -> [[Guest]] {
        let guests = state.guests.filter { $0.node == nodeName }.sorted { $0.id < $1.id }
        let workers = max(1, min(4 * width, guests.count / 256))
        let chunkSize = (guests.count + workers - 1) / workers
        return (0..<workers).map { worker in
            let lower = worker * chunkSize, upper = min(guests.count, lower + chunkSize)
            return lower < upper ? Array(guests[lower..<upper]) : []
        }
    }

    /// The guests' pieces compiled on `parallelism` threads, in guest order (blocks until they are done).
    /// They depend only on what `init` set up, so they can be compiled before `build(guestChunks:)`.
    func guestChunks(parallelism: Parallelism) -> [GuestChunk] {
        let pieces = guestPieces(width: parallelism.width)
        let builder = self
        return parallelism.map(pieces.count) { builder.compileGuests(pieces[$0]) }
    }

    /// The same pieces as child tasks.
    func guestChunks(parallelism: Parallelism) async -> [GuestChunk] {
        let pieces = guestPieces(width: parallelism.width)
        let builder = self
        return await parallelism.map(pieces.count) { builder.compileGuests(pieces[$0]) }
    }

    private func compileGuests(_ guests: [Guest]) -> GuestChunk {
        let mode = features.guestMode
        return compileGuests(guests, enabled: clusterOptions.enable, mode: mode, policyFamily: mode == .bridgeFamily ? .bridge : .inet)
    }

    /// Joins the guests' pieces (in guest order) into the dispatch maps and chains.
    private mutating func buildGuests(options clusterOptions: ResolvedFirewallOptions, chunks: [GuestChunk]) {
        let enabled = clusterOptions.enable
        let mode = features.guestMode
        let policyFamily: TableFamily = mode == .bridgeFamily ? .bridge : .inet
        var spoofMap: [SetElement] = []
        var outMap: [SetElement] = []
        var inMap: [SetElement] = []
        var inMapV4: [SetElement] = []
        var inMapV6: [SetElement] = []
        var ipv4Elements: [SetElement] = []
        var ipv6Elements: [SetElement] = []
        var spoofChains: [Chain] = []
        var nicChains: [Chain] = []
        var groupMap: [SetElement] = []
        var groupChains: [Chain] = []
        var knownPorts: [SetElement] = []
        for chunk in chunks {
            knownPorts += chunk.knownPorts
            groupMap += chunk.groupMap
            groupChains += chunk.groupChains
            spoofMap += chunk.spoofMap
            outMap += chunk.outMap
            inMap += chunk.inMap
            inMapV4 += chunk.inMapV4
            inMapV6 += chunk.inMapV6
            ipv4Elements += chunk.ipv4
            ipv6Elements += chunk.ipv6
            spoofChains += chunk.spoofChains
            nicChains += chunk.nicChains
            diagnostics += chunk.diagnostics
            for (family, names) in chunk.usedGroups { usedGroups[family, default: []].formUnion(names) }
            sharedSets.formUnion(chunk.sharedSets)
            for (family, names) in chunk.referencedSets { referencedSets[family, default: []].formUnion(names) }
        }

        let vnetChains = buildVNetChains(enabled: enabled, family: policyFamily)

        // Anti-spoofing, always in the bridge table: stateless, so every kernel can run it.
        bridge.sets += [
            NamedSet(name: FirewallNaming.guestSpoofMap, keyType: [.interfaceName], data: .verdict, elements: spoofMap),
            NamedSet(name: FirewallNaming.guestIPv4Set, keyType: [.interfaceName, .etherAddress, .ipv4Address], flags: Builder.addressSetFlags(ipv4Elements), elements: ipv4Elements),
            NamedSet(name: FirewallNaming.guestIPv6Set, keyType: [.interfaceName, .etherAddress, .ipv6Address], flags: Builder.addressSetFlags(ipv6Elements), elements: ipv6Elements),
        ]
        let unknownPorts = unknownPortRules(guestPorts: knownPorts)
        bridge.sets += unknownPorts.sets
        bridge.chains.append(Chain(name: FirewallNaming.guestSpoofDispatch, base: BaseChain(type: .filter, hook: .prerouting, priority: -300, policy: .accept),
                                   rules: unknownPorts.inbound + [
            Rule(id: "guests-spoof/dispatch", statements: [.vmap(.meta(.iifname), map: FirewallNaming.guestSpoofMap)]),
        ]))
        bridge.chains += unknownPorts.outbound + spoofChains

        let keyType: SetKeyType = mode == .bridgeFamily ? .interfaceName : .etherAddress
        var maps = [
            NamedSet(name: FirewallNaming.guestOutMap, keyType: [keyType], data: .verdict, elements: outMap),
            NamedSet(name: FirewallNaming.guestInMap, keyType: [keyType], data: .verdict, elements: inMap),
        ]
        var bases: [Chain]
        switch mode {
        case .bridgeFamily:
            // What a guest sends meets its outbound chain on prerouting, after conntrack (-200): one place for
            // bridged, routed and node-bound traffic, and one where the kernel allows `reject` on a bridge
            // (prerouting and input only). What reaches a guest meets its inbound chain on forward (bridged)
            // or output (routed by the node or sent by it), where no reject is possible.
            bases = [
                Chain(name: FirewallNaming.guestOutDispatch, base: BaseChain(type: .filter, hook: .prerouting, priority: 0, policy: .accept), rules: [
                    Rule(id: "guests-out/dispatch", statements: [.vmap(.meta(.iifname), map: FirewallNaming.guestOutMap)])]),
                Chain(name: FirewallNaming.guestInDispatch, base: BaseChain(type: .filter, hook: .forward, priority: 10, policy: .accept), rules: [
                    Rule(id: "guests-in/dispatch", statements: [.vmap(.meta(.oifname), map: FirewallNaming.guestInMap)])]),
                Chain(name: FirewallNaming.guestInLocalDispatch, base: BaseChain(type: .filter, hook: .output, priority: 0, policy: .accept), rules: [
                    Rule(id: "guests-in-local/dispatch", statements: [.vmap(.meta(.oifname), map: FirewallNaming.guestInMap)])]),
            ]
            if features.bridgeMeta && !vnetChains.elements.isEmpty {
                maps.append(NamedSet(name: FirewallNaming.vnetMap, keyType: [.interfaceName], data: .verdict, elements: vnetChains.elements))
                bases.insert(Chain(name: FirewallNaming.vnetDispatch, base: BaseChain(type: .filter, hook: .forward, priority: -10, policy: .accept), rules: [
                    Rule(id: "vnets/dispatch", statements: [.vmap(.meta(.ibrname), map: FirewallNaming.vnetMap)])]), at: 0)
            }
            bridge.sets += maps
            bridge.chains += bases + (features.bridgeMeta ? vnetChains.chains : []) + nicChains
        case .brNetfilter:
            // Keyed by the guest's MAC and declared addresses, which the anti-spoofing chain vouches for.
            // Bridged traffic and traffic routed from a guest carry its MAC; traffic from a guest to the node
            // too (input). Traffic to a guest that the node routes or sends itself has no guest MAC yet: it is
            // found by the vnet bridge and a declared address, and where no guest declares the address the
            // `undeclared` rules drop new connections, since no NIC's policy can be known to allow them.
            let undeclared = undeclaredSubnetSets()
            inet.sets += undeclared.sets
            bases = [
                // Everything a guest sends passes IP prerouting (bridged frames through br_netfilter), after
                // conntrack (-200) and before NAT (-100): one dispatch, so each outbound chain is reached (and
                // walked by the kernel's validation of a commit) once.
                Chain(name: FirewallNaming.guestOutDispatch, base: BaseChain(type: .filter, hook: .prerouting, priority: -150, policy: .accept), rules: [
                    Rule(id: "guests-out/dispatch", statements: [.vmap(.payload(.etherSaddr), map: FirewallNaming.guestOutMap)])]),
                Chain(name: FirewallNaming.guestInDispatch, base: BaseChain(type: .filter, hook: .forward, priority: -5, policy: .accept), rules: [
                    Rule(id: "guests-in/dispatch-v4", statements: [.vmap(.concat([.meta(.oifname), .payload(.ipDaddr)]), map: FirewallNaming.guestInMapV4)]),
                    Rule(id: "guests-in/dispatch-v6", statements: [.vmap(.concat([.meta(.oifname), .payload(.ip6Daddr)]), map: FirewallNaming.guestInMapV6)]),
                    Rule(id: "guests-in/dispatch", statements: [.vmap(.payload(.etherDaddr), map: FirewallNaming.guestInMap)])]
                    + Builder.undeclaredRules(prefix: "guests-in", local: false, families: undeclared.families)),
                Chain(name: FirewallNaming.guestInLocalDispatch, base: BaseChain(type: .filter, hook: .output, priority: -10, policy: .accept), rules: [
                    Rule(id: "guests-in-local/dispatch-v4", statements: [.vmap(.concat([.meta(.oifname), .payload(.ipDaddr)]), map: FirewallNaming.guestInMapV4)]),
                    Rule(id: "guests-in-local/dispatch-v6", statements: [.vmap(.concat([.meta(.oifname), .payload(.ip6Daddr)]), map: FirewallNaming.guestInMapV6)])]
                    + Builder.undeclaredRules(prefix: "guests-in-local", local: true, families: undeclared.families)),
            ]
            // Addresses that guests of other nodes declare on this node's vnets are not undeclared: traffic
            // routed to them goes on to the node the guest runs on, whose port judges it.
            let localKeys = Set((inMapV4 + inMapV6).map(\.key))
            for guest in state.guests where guest.node != nodeName {
                for nic in guest.nics {
                    guard case .vnet(let name) = nic.attachment, let vnet = state.vnet(named: name),
                          state.zone(named: vnet.zone)?.includes(node: nodeName) == true else { continue }
                    for prefix in nic.ips where prefix.isHost {
                        let element = SetElement(key: [.string(InterfaceNaming.vnetBridge(name)), .address(prefix.address)], data: .verdict(.accept))
                        guard !localKeys.contains(element.key) else { continue }
                        if prefix.family == .ipv4 { inMapV4.append(element) } else { inMapV6.append(element) }
                    }
                }
            }
            maps += [
                NamedSet(name: FirewallNaming.guestInMapV4, keyType: [.interfaceName, .ipv4Address], data: .verdict, elements: inMapV4),
                NamedSet(name: FirewallNaming.guestInMapV6, keyType: [.interfaceName, .ipv6Address], data: .verdict, elements: inMapV6),
            ]
            inet.sets += maps
            inet.chains += bases + nicChains
            // Broadcast and multicast frames reach the IP hooks with a group MAC and a group address, which
            // name no guest: they are judged per receiving port on the bridge, statelessly (the bridge has
            // no conntrack here), by a copy of the port's inbound rules.
            bridge.sets.append(NamedSet(name: FirewallNaming.guestGroupMap, keyType: [.interfaceName], data: .verdict, elements: groupMap))
            // One dispatch on postrouting, which bridged frames and the node's own both pass, by the group
            // bit of the destination MAC (the node's own frames say `pkttype host` whatever their MAC).
            bridge.chains += [
                Chain(name: FirewallNaming.guestGroupDispatch, base: BaseChain(type: .filter, hook: .postrouting, priority: 0, policy: .accept), rules: [
                    Rule(id: "guests-in-group/dispatch", statements: [Builder.groupFrames, .vmap(.meta(.oifname), map: FirewallNaming.guestGroupMap)])]),
            ] + groupChains
        }
        // Vnet forward policies for routed traffic, in the inet table: out of a vnet (by input interface) and
        // into one (by output interface, once the source vnet's chain accepted). Under br_netfilter the first
        // also sees bridged traffic; the second skips it, as its vnet's chain has judged it.
        let routedVNetChains = mode == .brNetfilter ? vnetChains : buildVNetChains(enabled: enabled, family: .inet)
        if !routedVNetChains.elements.isEmpty {
            inet.sets.append(NamedSet(name: FirewallNaming.vnetMap, keyType: [.interfaceName], data: .verdict, elements: routedVNetChains.elements))
            inet.chains += [
                Chain(name: FirewallNaming.vnetDispatch, base: BaseChain(type: .filter, hook: .forward, priority: -15, policy: .accept), rules: [
                    Rule(id: "vnets/dispatch", statements: [.vmap(.meta(.iifname), map: FirewallNaming.vnetMap)])]),
                Chain(name: FirewallNaming.vnetIntoDispatch, base: BaseChain(type: .filter, hook: .forward, priority: -14, policy: .accept), rules: [
                    Rule(id: "vnets-into/bridged", statements: [Builder.bridgedMatch, .verdict(.accept)]),
                    Rule(id: "vnets-into/dispatch", statements: [.vmap(.meta(.oifname), map: FirewallNaming.vnetMap)])]),
            ] + routedVNetChains.chains
        }
        if mode == .bridgeFamily && !features.bridgeMeta && !vnetChains.elements.isEmpty {
            diagnostics.append(.warning(.vnetPolicyUnsupported, "this kernel has no bridge meta support (nft_meta_bridge), so vnet forward policies are not applied to bridged traffic",
                                        at: state.sources.location(of: ConfigPath.policy / "vnets"), path: "vnets"))
        }
    }

    /// This node's vnet bridges that drop their unknown ports (`unknown-ports: drop`, the default), sorted.
    var strictVNetBridges: [String] {
        state.vnets.filter { $0.unknownPorts == .drop && state.zone(named: $0.zone)?.includes(node: nodeName) == true }
            .map { InterfaceNaming.vnetBridge($0.name) }.sorted()
    }

    /// The unknown-port drop in both layouts: what enters a strict vnet bridge from a port that is no
    /// declared guest NIC of this node and none of the node's own ports (the first rule of bridge
    /// prerouting), and what the bridge would send out of such a port, bridged, flooded or the node's own
    /// (bridge postrouting, which both pass). Both need the bridge's name (`meta ibrname`/`obrname`,
    /// nft_meta_bridge); without it nothing tells a vnet bridge's port from another bridge's, so unknown
    /// ports pass and the compiler says so.
    mutating func unknownPortRules(guestPorts: [SetElement]) -> (sets: [NamedSet], inbound: [Rule], outbound: [Chain]) {
        let strict = strictVNetBridges
        guard !strict.isEmpty else { return ([], [], []) }
        guard features.bridgeMeta else {
            let names = state.vnets.filter { strict.contains(InterfaceNaming.vnetBridge($0.name)) }.map(\.name)
            diagnostics.append(.warning(.unknownPortsPass,
                "this kernel has no bridge meta support (nft_meta_bridge), so ports on \(names.count == 1 ? "vnet" : "vnets") \(names.joined(separator: ", ")) that no guest NIC declares pass traffic instead of being dropped",
                at: state.sources.location(of: ConfigPath.topology / "vnets" / names[0]), path: "vnets.\(names[0])",
                hint: "load nft_meta_bridge on the node, or write unknown-ports: accept on the vnet to accept such ports knowingly"))
            return ([], [], [])
        }
        var known = guestPorts
        let own = NodeNetworkBuilder.ownVNetBridgePorts(Validated(unchecked: state, diagnostics: []), node: nodeName)
        for bridgeName in strict {
            for port in own[bridgeName] ?? [] { known.append(SetElement(key: [.string(bridgeName), .string(port)])) }
        }
        let sets = [
            NamedSet(name: FirewallNaming.strictVNetBridges, keyType: [.interfaceName], elements: strict.map { SetElement(key: [.string($0)]) }),
            NamedSet(name: FirewallNaming.knownVNetPorts, keyType: [.interfaceName, .interfaceName], elements: known),
        ]
        let inbound = Rule(id: "unknown-ports/in", statements: [
            .match(.meta(.ibrname), .equal, .setReference(FirewallNaming.strictVNetBridges)),
            .match(.concat([.meta(.ibrname), .meta(.iifname)]), .notEqual, .setReference(FirewallNaming.knownVNetPorts)),
            .counter, .verdict(.drop)])
        let outbound = Chain(name: FirewallNaming.unknownPortsOut, base: BaseChain(type: .filter, hook: .postrouting, priority: -300, policy: .accept), rules: [
            Rule(id: "unknown-ports/out", statements: [
                .match(.meta(.obrname), .equal, .setReference(FirewallNaming.strictVNetBridges)),
                .match(.concat([.meta(.obrname), .meta(.oifname)]), .notEqual, .setReference(FirewallNaming.knownVNetPorts)),
                .counter, .verdict(.drop)]),
        ])
        return (sets, [inbound], [outbound])
    }

    /// The (vnet bridge . port) elements of some guests' NICs on this node's strict vnet bridges.
    func knownPortElements(of guest: Guest) -> [SetElement] {
        guard features.bridgeMeta else { return [] }
        var elements: [SetElement] = []
        for nic in guest.nics {
            guard case .vnet(let name) = nic.attachment, let vnet = state.vnet(named: name), vnet.unknownPorts == .drop,
                  state.zone(named: vnet.zone)?.includes(node: nodeName) == true else { continue }
            elements.append(SetElement(key: [.string(InterfaceNaming.vnetBridge(name)),
                                             .string(InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index))]))
        }
        return elements
    }

    /// `minimal` layout: the sets of (vnet bridge . subnet) this node routes, per family, without the IPv4
    /// subnet broadcast address, for the `undeclared` rules.
    func undeclaredSubnetSets() -> (sets: [NamedSet], families: Set<IPAddress.Family>) {
        var elements: [IPAddress.Family: [SetElement]] = [:]
        for vnet in state.vnets.sorted(by: { $0.name < $1.name }) where state.zone(named: vnet.zone)?.includes(node: nodeName) == true {
            let bridgeName = InterfaceNaming.vnetBridge(vnet.name)
            for family in [IPAddress.Family.ipv4, .ipv6] {
                var intervals = AddressIntervals(family: family)
                for subnet in vnet.subnets where subnet.cidr.family == family { intervals.insert(AddressIntervals.range(of: subnet.cidr.masked)) }
                if family == .ipv4 {
                    for subnet in vnet.subnets where subnet.cidr.family == .ipv4 && subnet.cidr.length < 31 {
                        let broadcast = AddressIntervals.range(of: subnet.cidr.masked).upperBound
                        intervals.remove(broadcast...broadcast)
                    }
                }
                for value in intervals.values { elements[family, default: []].append(SetElement(key: [.string(bridgeName), value])) }
            }
        }
        var sets: [NamedSet] = []
        for (family, name) in [(IPAddress.Family.ipv4, FirewallNaming.vnetSubnetsV4), (.ipv6, FirewallNaming.vnetSubnetsV6)] {
            guard let list = elements[family], !list.isEmpty else { continue }
            sets.append(NamedSet(name: name, keyType: [.interfaceName, family == .ipv4 ? .ipv4Address : .ipv6Address], flags: [.interval], elements: list))
        }
        return (sets, Set(elements.keys))
    }

    /// `minimal` layout: what follows the declared-address dispatch of traffic the node routes (or, with
    /// `local`, sends) to a vnet: replies pass (the guest's outbound chain judged the connection), the
    /// node's own DHCP and neighbour discovery pass, and new connections to an address in a vnet subnet that
    /// no guest declares are dropped and counted.
    static func undeclaredRules(prefix: String, local: Bool, families: Set<IPAddress.Family>) -> [Rule] {
        guard !families.isEmpty else { return [] }
        // Bridged traffic to an address no guest of this node declares is on its way to another node's guest
        // (over a VXLAN port) or to the uplink: the receiving node's port judges it.
        var rules = local ? [] : [Rule(id: prefix + "/undeclared-bridged", statements: [bridgedMatch, .verdict(.accept)])]
        rules.append(Rule(id: prefix + "/undeclared-ct", statements: acceptEstablished))
        if local {
            rules.append(Rule(id: prefix + "/undeclared-dhcp", statements: [
                .match(.payload(.udpSport), .equal, .value(.integer(67))),
                .match(.payload(.udpDport), .equal, .value(.integer(68))), .verdict(.accept)]))
            if families.contains(.ipv6) {
                rules.append(Rule(id: prefix + "/undeclared-dhcpv6", statements: [
                    .match(.payload(.udpSport), .equal, .value(.integer(547))),
                    .match(.payload(.udpDport), .equal, .value(.integer(546))), .verdict(.accept)]))
                rules.append(Rule(id: prefix + "/undeclared-ndp", statements: acceptNDP))
            }
        }
        if families.contains(.ipv4) {
            rules.append(Rule(id: prefix + "/undeclared-v4", statements: [
                .match(.concat([.meta(.oifname), .payload(.ipDaddr)]), .equal, .setReference(FirewallNaming.vnetSubnetsV4)), .counter, .verdict(.drop)]))
        }
        if families.contains(.ipv6) {
            rules.append(Rule(id: prefix + "/undeclared-v6", statements: [
                .match(.concat([.meta(.oifname), .payload(.ip6Daddr)]), .equal, .setReference(FirewallNaming.vnetSubnetsV6)), .counter, .verdict(.drop)]))
        }
        return rules
    }

    static let dropTCP: [Statement] = [.match(.meta(.l4proto), .equal, .value(.symbol(.tcp))), .counter, .verdict(.drop)]

    /// Whether a rule can only match TCP (it matches a TCP header field or `meta l4proto tcp`).
    static func isTCPOnly(_ rule: Rule) -> Bool {
        rule.statements.contains { statement in
            guard case .match(let left, let op, let right) = statement, op == .equal || op == .implicit || op == .notEqual else { return false }
            switch left {
            case .payload(let field): return field.protocolName == "tcp"
            case .meta(.l4proto): return op != .notEqual && right == .value(.symbol(.tcp))
            default: return false
            }
        }
    }

    /// Broadcast and multicast frames: the group bit of the destination MAC.
    static let groupFrames: Statement = .match(.bitwiseAnd(.payload(.etherDaddr), .value(.ether(groupBit))), .equal, .value(.ether(groupBit)))
    static let groupBit = MACAddress(octets: [0x01, 0, 0, 0, 0, 0])
    /// Frames an IP policy does not govern (not IPv4, IPv6 or ARP).
    static let acceptNonIP: [Statement] = [SharedSet.ipEtherTypes.notMatch, .verdict(.accept)]

    /// The objects of the given guests only (see `FirewallCompiler.compileGuests`).
    func fragment(for ids: Set<Int>) -> GuestFragment {
        let mode = features.guestMode
        let policyFamily: TableFamily = mode == .bridgeFamily ? .bridge : .inet
        let guests = state.guests.filter { ids.contains($0.id) && $0.node == nodeName }.sorted { $0.id < $1.id }
        let chunk = compileGuests(guests, enabled: clusterOptions.enable, mode: mode, policyFamily: policyFamily)
        var elements: [TableFamily: [String: [SetElement]]] = [:]
        elements[.bridge] = [FirewallNaming.guestSpoofMap: chunk.spoofMap, FirewallNaming.guestIPv4Set: chunk.ipv4, FirewallNaming.guestIPv6Set: chunk.ipv6]
        // The set exists only where a strict vnet bridge does, and only then has a guest NIC elements for it.
        if !chunk.knownPorts.isEmpty { elements[.bridge]?[FirewallNaming.knownVNetPorts] = chunk.knownPorts }
        var policyMaps = [FirewallNaming.guestOutMap: chunk.outMap, FirewallNaming.guestInMap: chunk.inMap]
        if mode == .brNetfilter {
            policyMaps[FirewallNaming.guestInMapV4] = chunk.inMapV4
            policyMaps[FirewallNaming.guestInMapV6] = chunk.inMapV6
        }
        elements[policyFamily, default: [:]].merge(policyMaps) { _, new in new }
        if mode == .brNetfilter { elements[.bridge]?[FirewallNaming.guestGroupMap] = chunk.groupMap }
        var chains: [TableFamily: [Chain]] = [.bridge: chunk.spoofChains + chunk.groupChains]
        chains[policyFamily, default: []] += chunk.nicChains
        var sets = chunk.sharedSets.names
        for (family, names) in chunk.referencedSets { sets[family, default: []].formUnion(names) }
        return GuestFragment(chains: chains, elements: elements, groups: chunk.usedGroups, sets: sets, diagnostics: chunk.diagnostics)
    }

    /// The chains, map elements and findings of some guests (pure: runs concurrently with other chunks).
    private func compileGuests(_ guests: [Guest], enabled: Bool, mode: GuestFirewallMode, policyFamily: TableFamily) -> GuestChunk {
        var chunk = GuestChunk()
        for guest in guests {
            // Whether a port may carry traffic is the topology's business, not the policy's: a NIC with the
            // firewall off, or of a guest whose firewall is off, is still a known port.
            chunk.knownPorts += knownPortElements(of: guest)
            let policy = guestPolicies[guest.id]
            let options = clusterOptions.applying(policy?.options ?? FirewallOptions())
            if mode == .brNetfilter {
                // Routed traffic to a NIC nothing filters must not fall to the `undeclared` drop, which is
                // for addresses no guest declares: its declared addresses pass, as in Proxmox.
                let filtered = enabled && options.enable
                for nic in guest.nics where !(filtered && nic.firewall) {
                    guard case .vnet(let name) = nic.attachment else { continue }
                    for prefix in nic.ips where prefix.isHost {
                        let element = SetElement(key: [.string(InterfaceNaming.vnetBridge(name)), .address(prefix.address)], data: .verdict(.accept))
                        if prefix.family == .ipv4 { chunk.inMapV4.append(element) } else { chunk.inMapV6.append(element) }
                    }
                    // Without a declared address it is not reachable by routed connections either: say so.
                    chunk.diagnostics += minimalLayoutFindings(guest: guest, nic: nic, path: { ConfigPath.topology / "guests" / String(guest.id) / "nics" / nic.key })
                }
            }
            guard enabled, options.enable else { continue }
            var sharedPolicyRules: (out: [Rule], in: [Rule], outChain: String, inChain: String)?
            var sharedGroupChainMade = false
            let policyNamesNIC = policy?.rules.contains { $0.interface != nil } ?? false
            for nic in guest.nics.sorted(by: { $0.index < $1.index }) where nic.firewall {
                let interface = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
                // Built only for a diagnostic: paths allocate, and most NICs have none.
                let nicPath = { ConfigPath.topology / "guests" / String(guest.id) / "nics" / nic.key }
                let outName = FirewallNaming.guestChain(guest: guest.id, nic: nic.index, .out)
                let inName = FirewallNaming.guestChain(guest: guest.id, nic: nic.index, .in)
                let spoofName = FirewallNaming.guestSpoofChain(guest: guest.id, nic: nic.index)

                // Stateless checks of what the guest sends, on the bridge before anything else sees it.
                let spoofRules = spoofingRules(nic: nic, interface: interface, chain: spoofName, options: options, path: nicPath,
                                               guestID: guest.id, ipv4: &chunk.ipv4, ipv6: &chunk.ipv6, diagnostics: &chunk.diagnostics, sets: &chunk.sharedSets)
                if !spoofRules.isEmpty {
                    chunk.spoofChains.append(Chain(name: spoofName, rules: spoofRules))
                    chunk.spoofMap.append(SetElement(key: [.string(interface)], data: .verdict(.jump(spoofName))))
                }

                let dispatchKey: Value
                switch mode {
                case .bridgeFamily:
                    dispatchKey = .string(interface)
                case .brNetfilter:
                    guard let mac = nic.mac else {
                        chunk.diagnostics.append(.warning(.firewallNeedsMac, "guest \(guest.id) \(nic.key) has no declared MAC; in br_netfilter mode its rules are found by MAC, so they are not applied",
                                                    at: state.sources.location(of: nicPath()), path: nicPath().description, hint: "declare mac: for the NIC"))
                        // Unfiltered, like a NIC with the firewall off: its declared addresses are not undeclared.
                        if case .vnet(let name) = nic.attachment {
                            for prefix in nic.ips where prefix.isHost {
                                let element = SetElement(key: [.string(InterfaceNaming.vnetBridge(name)), .address(prefix.address)], data: .verdict(.accept))
                                if prefix.family == .ipv4 { chunk.inMapV4.append(element) } else { chunk.inMapV6.append(element) }
                            }
                        }
                        continue
                    }
                    dispatchKey = .ether(mac)
                }

                var compiler = RuleCompiler(firewall: firewall, tableFamily: policyFamily, logRateLimit: options.logRateLimit, ipSetFamilies: ipSetFamilies, aliases: aliasIndex)
                var outRules: [Rule] = []
                var inRules: [Rule] = []
                outRules.reserveCapacity(12 + (policy?.rules.count ?? 0))
                inRules.reserveCapacity(12 + (policy?.rules.count ?? 0))
                // The statements of these fixed rules are shared arrays, not built per NIC.
                if options.ndp {
                    let outTypes: SharedSet = options.radv ? .ndp : .ndpHost
                    _ = chunk.sharedSets.match(outTypes, in: policyFamily)
                    _ = chunk.sharedSets.match(.ndp, in: policyFamily)
                    outRules.append(Rule(id: outName + "/ndp", statements: outTypes == .ndp ? Builder.acceptNDP : Builder.acceptHostNDP))
                    inRules.append(Rule(id: inName + "/ndp", statements: Builder.acceptNDP))
                }
                if options.dhcp {
                    outRules.append(Rule(id: outName + "/dhcp-client", statements: Builder.dhcpClientOut))
                    inRules.append(Rule(id: inName + "/dhcp-client", statements: Builder.dhcpClientIn))
                }
                if mode == .bridgeFamily {
                    outRules.append(Builder.arpAccept(prefix: outName))
                    inRules.append(Builder.arpAccept(prefix: inName))
                }
                outRules += conntrackRules(prefix: outName, allowInvalid: options.allowInvalid)
                inRules += conntrackRules(prefix: inName, allowInvalid: options.allowInvalid)
                if options.nosmurfs { inRules += smurfRules(prefix: inName, family: policyFamily, sets: &chunk.sharedSets) }
                if options.tcpflags { inRules += tcpFlagRules(prefix: inName) }

                // NICs of one guest share its policy: unless a rule names a NIC, compile the rules once and
                // give the other NICs copies under their own chain names (the compile dominates large sets).
                if let shared = sharedPolicyRules, !policyNamesNIC {
                    outRules += Builder.retarget(shared.out, from: shared.outChain, to: outName)
                    inRules += Builder.retarget(shared.in, from: shared.inChain, to: inName)
                } else {
                    var policyOut: [Rule] = []
                    var policyIn: [Rule] = []
                    let outPlacement = RuleCompiler.Placement(chain: outName, direction: .out, interfaceKey: nil, logScope: outName)
                    let inPlacement = RuleCompiler.Placement(chain: inName, direction: .in, interfaceKey: nil, logScope: inName)
                    // Through a buffer pointer, and each rule compiled once for its direction: copying every
                    // rule (and its match) per NIC and direction was a good part of a 10,000-guest compile.
                    (policy?.rules ?? []).withUnsafeBufferPointer { rules in
                        for index in rules.indices {
                            if case .group(let group, let iface) = rules[index].body, rules[index].enabled, iface == nil || iface == nic.key {
                                chunk.usedGroups[policyFamily, default: []].insert(group)
                            }
                            if let iface = rules[index].interface {
                                // A rule naming another NIC (`iface net1`) does not belong in this NIC's chains.
                                guard iface == nic.key else { continue }
                                var stripped = rules[index]
                                stripped.stripInterface()
                                compiler.compile(stripped, out: outPlacement, in: inPlacement, outRules: &policyOut, inRules: &policyIn)
                            } else {
                                compiler.compile(rules[index], out: outPlacement, in: inPlacement, outRules: &policyOut, inRules: &policyIn)
                            }
                        }
                    }
                    chunk.diagnostics += compiler.diagnostics
                    chunk.referencedSets[policyFamily, default: []].formUnion(compiler.referencedSets)
                    outRules += policyOut
                    inRules += policyIn
                    sharedPolicyRules = (policyOut, policyIn, outName, inName)
                }
                outRules += defaultPolicy(options.policyOut, level: options.logLevelOut, scope: outName, rate: options.logRateLimit)
                inRules += defaultPolicy(options.policyIn, level: options.logLevelIn, scope: inName, rate: options.logRateLimit)
                let rejects = options.policyIn == .reject || options.policyOut == .reject || policy?.rules.contains { $0.match?.action == .reject } == true
                // Only a reject policy or a reject rule matching no IP field (protocol, port, address, macro) can see a non-IP frame.
                let rejectsNonIP = options.policyIn == .reject || options.policyOut == .reject || policy?.rules.contains { rule in
                    guard let match = rule.match, rule.enabled, match.action == .reject else { return false }
                    return match.macro == nil && match.proto == nil && match.source.isEmpty && match.destination.isEmpty
                        && match.sport.isEmpty && match.dport.isEmpty && match.icmpType == nil
                } == true
                let rejectsInbound = options.policyIn == .reject || policy?.rules.contains { rule in
                    guard rule.enabled else { return false }
                    switch rule.body {
                    case .match(let match): return match.action == .reject && match.direction == .in
                    case .group(let name, _): return firewall.groups.first { $0.name == name }?.rules.contains { $0.match?.action == .reject && $0.match?.direction == .in } ?? false
                    }
                } == true
                if mode == .bridgeFamily && features.bridgeReject && rejectsInbound {
                    chunk.diagnostics.append(.warning(.rejectInboundDrops, "guest \(guest.id) \(nic.key): the kernel rejects on a bridge only where a frame enters it (prerouting, input), so rejects in its inbound rules and policy drop instead in the full layout",
                                                      at: state.sources.location(of: ConfigPath.policy / "guests" / String(guest.id)), path: "guests.\(guest.id)",
                                                      hint: "outbound rejects, and the node's own, answer as written"))
                }
                if rejects {
                    if mode == .bridgeFamily && !features.bridgeReject {
                        chunk.diagnostics.append(.warning(.rejectUnsupported, "guest \(guest.id) \(nic.key): this kernel cannot reject on a bridge (no nft_reject_bridge); its reject rules drop instead",
                                                    at: state.sources.location(of: ConfigPath.policy / "guests" / String(guest.id)), path: "guests.\(guest.id)"))
                    } else if mode == .bridgeFamily && rejectsNonIP {
                        // Under br_netfilter the guest chains see IP packets only: nothing else reaches a reject.
                        chunk.diagnostics.append(.warning(.rejectNonIp, "guest \(guest.id) \(nic.key): reject answers IPv4 and IPv6 packets only; other frames that reach a reject are dropped",
                                                    at: state.sources.location(of: ConfigPath.policy / "guests" / String(guest.id)), path: "guests.\(guest.id)",
                                                    hint: "the kernel cannot reject non-IP frames"))
                    }
                }
                if mode == .bridgeFamily {
                    if !features.bridgeReject { outRules = outRules.map(Builder.replacingRejectWithDrop) }
                    inRules = inRules.map(Builder.replacingRejectWithDrop)
                }
                chunk.nicChains.append(Chain(name: outName, rules: outRules))
                chunk.nicChains.append(Chain(name: inName, rules: inRules))
                if mode == .brNetfilter {
                    // The stateless copy of the inbound chain that judges broadcast and multicast frames on the
                    // bridge (see `guests-in-group`): no conntrack there, and no reject.
                    // The NICs of a guest whose rules name no NIC share one copy (as they share compiled rules).
                    let groupName = policyNamesNIC ? FirewallNaming.guestGroupChain(guest: guest.id, nic: nic.index) : FirewallNaming.guestGroupChain(guest: guest.id)
                    if policyNamesNIC || !sharedGroupChainMade {
                        sharedGroupChainMade = true
                        _ = chunk.sharedSets.match(.ipEtherTypes, in: .bridge)
                        if options.ndp { _ = chunk.sharedSets.match(.ndp, in: .bridge) }
                        if options.nosmurfs { _ = chunk.sharedSets.match(.smurfSources, in: .bridge) }
                        chunk.usedGroups[.bridge, default: []].formUnion(chunk.usedGroups[policyFamily] ?? [])
                        chunk.referencedSets[.bridge, default: []].formUnion(chunk.referencedSets[policyFamily] ?? [])
                        // TCP never travels in broadcast or multicast frames: such a frame is forged, and dropped
                        // before the copy, which therefore leaves TCP rules out.
                        let stateless = inRules.filter { !$0.id.hasSuffix("/ct-established") && !$0.id.hasSuffix("/ct-invalid") && !Builder.isTCPOnly($0) }
                        let groupRules = [Rule(id: groupName + "/non-ip", statements: Builder.acceptNonIP), Builder.arpAccept(prefix: groupName),
                                          Rule(id: groupName + "/tcp", statements: Builder.dropTCP)]
                            + Builder.retarget(stateless, from: inName, to: groupName).map(Builder.replacingRejectWithDrop)
                        chunk.groupChains.append(Chain(name: groupName, rules: groupRules))
                    }
                    chunk.groupMap.append(SetElement(key: [.string(interface)], data: .verdict(.jump(groupName))))
                    chunk.diagnostics += minimalLayoutFindings(guest: guest, nic: nic, path: nicPath)
                }
                chunk.outMap.append(SetElement(key: [dispatchKey], data: .verdict(.jump(outName))))
                chunk.inMap.append(SetElement(key: [dispatchKey], data: .verdict(.jump(inName))))
                if mode == .brNetfilter {
                    // Routed traffic to a guest still carries the router's MAC when the forward hook sees
                    // it; the vnet bridge and the guest's declared address identify the NIC instead.
                    let bridgeName: String = switch nic.attachment {
                    case .vnet(let name): InterfaceNaming.vnetBridge(name)
                    case .bridge(let bridge): bridge.rawValue
                    }
                    for prefix in nic.ips where prefix.isHost {
                        let element = SetElement(key: [.string(bridgeName), .address(prefix.address)], data: .verdict(.jump(inName)))
                        if prefix.family == .ipv4 { chunk.inMapV4.append(element) } else { chunk.inMapV6.append(element) }
                    }
                }
            }
        }

        return chunk
    }

    /// What the `minimal` layout cannot filter for this NIC, said for the exact guest and path.
    private func minimalLayoutFindings(guest: Guest, nic: GuestNIC, path: () -> ConfigPath) -> [Diagnostic] {
        let hint = "declare the NIC's addresses under ip:, or run a kernel with nf_conntrack_bridge (the full layout filters by port)"
        switch nic.attachment {
        case .vnet(let name):
            guard let vnet = state.vnet(named: name) else { return [] }
            var findings: [Diagnostic] = []
            for family in [IPAddress.Family.ipv4, .ipv6] where vnet.subnets.contains(where: { $0.cidr.family == family })
                && !nic.ips.contains(where: { $0.family == family && $0.isHost }) {
                findings.append(.warning(.minimalUndeclaredAddress,
                    "guest \(guest.id) \(nic.key) declares no \(family == .ipv4 ? "IPv4" : "IPv6") address: in the minimal layout, connections the node routes or opens to it over \(family == .ipv4 ? "IPv4" : "IPv6") are dropped, because the node cannot tell which NIC they are for",
                    at: state.sources.location(of: path()), path: path().description, hint: hint))
            }
            return findings
        case .bridge(let bridge):
            return [.warning(.minimalUnfilteredPath,
                "guest \(guest.id) \(nic.key) is on bridge \(bridge), which has no vnet subnets: in the minimal layout, traffic the node routes or sends to an address it does not declare bypasses its inbound policy",
                at: state.sources.location(of: path()), path: path().description, hint: hint)]
        }
    }

    private func spoofingRules(nic: GuestNIC, interface: String, chain: String, options: ResolvedFirewallOptions, path: () -> ConfigPath, guestID: Int,
                               ipv4: inout [SetElement], ipv6: inout [SetElement], diagnostics: inout [Diagnostic], sets: inout SharedSetUse) -> [Rule] {
        var rules: [Rule] = []
        rules.reserveCapacity(8)
        if options.macfilter {
            if let mac = nic.mac {
                rules.append(Rule(id: chain + "/macfilter", statements: [.match(.payload(.etherSaddr), .notEqual, .value(.ether(mac))), .counter, .verdict(.drop)]))
                // ARP names its sender's MAC again inside the packet, and neighbours learn from that one.
                rules.append(Rule(id: chain + "/macfilter-arp", statements: [.match(.payload(.arpSaddrEther), .notEqual, .value(.ether(mac))), .counter, .verdict(.drop)]))
            } else {
                diagnostics.append(.warning(.macfilterWithoutMac, "guest \(guestID) \(nic.key) has macfilter on but no declared MAC, so its source MAC cannot be checked",
                                            at: state.sources.location(of: path()), path: path().description, hint: "declare mac: for the NIC"))
            }
        }
        if !options.radv {
            _ = sets.match(.ndpRouterOnly, in: .bridge)
            rules.append(Rule(id: chain + "/ra-guard", statements: Builder.raGuard))
        }
        if !options.dhcpServer {
            _ = sets.match(.dhcpServerPorts, in: .bridge)
            rules.append(Rule(id: chain + "/dhcp-server-guard", statements: Builder.dhcpServerGuard))
        }
        if options.ipfilter {
            guard let mac = nic.mac else {
                diagnostics.append(.warning(.ipfilterWithoutMac, "guest \(guestID) \(nic.key) has ipfilter on but no declared MAC; all its IP traffic is dropped",
                                            at: state.sources.location(of: path()), path: path().description, hint: "declare mac: for the NIC"))
                rules.append(Rule(id: "\(chain)/ipfilter-no-mac", statements: [sets.match(.ipEtherTypes, in: .bridge), .counter, .verdict(.drop)]))
                return rules
            }
            if options.dhcp {
                // A DHCP client has no address yet: it sends from 0.0.0.0.
                rules.append(Rule(id: chain + "/dhcp-discover", statements: Builder.dhcpDiscover))
            }
            for prefix in nic.ips where prefix.family == .ipv4 {
                ipv4.append(SetElement(key: [.string(interface), .ether(mac), prefix.isHost ? .address(prefix.address) : .prefix(prefix.masked)]))
            }
            for prefix in nic.ips where prefix.family == .ipv6 {
                ipv6.append(SetElement(key: [.string(interface), .ether(mac), prefix.isHost ? .address(prefix.address) : .prefix(prefix.masked)]))
            }
            ipv6.append(SetElement(key: [.string(interface), .ether(mac), .address(Builder.linkLocal(for: mac).address)]))
            // Duplicate address detection probes come from the unspecified address.
            rules.append(Rule(id: chain + "/ipfilter-dad", statements: Builder.ipfilterDAD))
            rules.append(Rule(id: chain + "/ipfilter-v4", statements: Builder.ipfilterV4))
            rules.append(Rule(id: chain + "/ipfilter-arp", statements: Builder.ipfilterARP))
            rules.append(Rule(id: chain + "/ipfilter-v6", statements: Builder.ipfilterV6))
        }
        return rules
    }

    // The anti-spoofing chain's fixed statements, shared by every NIC's chain.
    static let raGuard: [Statement] = [SharedSet.ndpRouterOnly.match, .counter, .verdict(.drop)]
    static let dhcpServerGuard: [Statement] = [SharedSet.dhcpServerPorts.match, .counter, .verdict(.drop)]
    static let dhcpDiscover: [Statement] = [
        .match(.payload(.ipSaddr), .equal, .value(.address(.v4(0)))),
        .match(.payload(.udpSport), .equal, .value(.integer(68))),
        .match(.payload(.udpDport), .equal, .value(.integer(67))), .verdict(.return)]
    static let ipfilterDAD: [Statement] = [
        .match(.payload(.ip6Saddr), .equal, .value(.address(.v6(0)))),
        .match(.payload(.icmpv6Type), .equal, .value(.symbol(.ndNeighborSolicit))), .verdict(.return)]
    static let ipfilterV4: [Statement] = [
        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ipSaddr)]), .notEqual, .setReference(FirewallNaming.guestIPv4Set)),
        .counter, .verdict(.drop)]
    static let ipfilterARP: [Statement] = [
        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.arpSaddrIP)]), .notEqual, .setReference(FirewallNaming.guestIPv4Set)),
        .counter, .verdict(.drop)]
    static let ipfilterV6: [Statement] = [
        .match(.concat([.meta(.iifname), .payload(.etherSaddr), .payload(.ip6Saddr)]), .notEqual, .setReference(FirewallNaming.guestIPv6Set)),
        .counter, .verdict(.drop)]

    private mutating func buildVNetChains(enabled: Bool, family: TableFamily) -> (chains: [Chain], elements: [SetElement]) {
        var chains: [Chain] = []
        var elements: [SetElement] = []
        for vnetPolicy in firewall.vnets.sorted(by: { $0.scope < $1.scope }) {
            guard enabled, case .vnet(let name) = vnetPolicy.scope, let vnet = state.vnet(named: name),
                  let zone = state.zone(named: vnet.zone), zone.includes(node: nodeName) else { continue }
            let options = firewall.resolvedOptions(for: vnetPolicy.scope)
            guard options.enable else { continue }
            let chainName = FirewallNaming.vnetChain(name)
            var compiler = RuleCompiler(firewall: firewall, tableFamily: family, logRateLimit: options.logRateLimit, ipSetFamilies: ipSetFamilies, aliases: aliasIndex)
            var rules = (family == .bridge ? [Builder.arpAccept(prefix: chainName)] : []) + conntrackRules(prefix: chainName, allowInvalid: options.allowInvalid)
            for rule in vnetPolicy.rules {
                rules += compiler.compile(rule, placement: .init(chain: chainName, direction: .forward, interfaceKey: nil, logScope: chainName))
                if case .group(let group, _) = rule.body, rule.enabled { usedGroups[family, default: []].insert(group) }
            }
            diagnostics += compiler.diagnostics
            referencedSets[family, default: []].formUnion(compiler.referencedSets)
            rules += defaultPolicy(options.policyForward, level: options.logLevelForward, scope: chainName, rate: options.logRateLimit)
            // Bridged frames meet vnet chains on the forward hook, where the kernel cannot reject.
            chains.append(Chain(name: chainName, rules: family == .bridge ? rules.map(Builder.replacingRejectWithDrop) : rules))
            elements.append(SetElement(key: [.string(InterfaceNaming.vnetBridge(name))], data: .verdict(.jump(chainName))))
        }
        return (chains, elements)
    }

    /// The anti-spoofing sets need the interval flag only when a NIC declares a subnet rather than host
    /// addresses. Without it the kernel keeps them in a hash (one lookup per packet); an interval
    /// concatenation is a pipapo set, whose lookup time grows with the number of elements, that is, with
    /// the number of guests.
    static func addressSetFlags(_ elements: [SetElement]) -> Set<NamedSet.Flag> {
        let hostsOnly = elements.allSatisfy { element in
            element.key.allSatisfy { if case .prefix = $0 { false } else if case .range = $0 { false } else { true } }
        }
        return hostsOnly ? [] : [.interval]
    }

    /// Copies of rules compiled for one chain, renamed for another (ids and log prefixes name the chain).
    static func retarget(_ rules: [Rule], from old: String, to new: String) -> [Rule] {
        let oldLength = old.utf8.count
        return rules.map { rule in
            var copy = rule
            // UTF-8 offsets: `dropFirst(old.count)` walks characters, which is slow for 800,000 ids.
            if rule.id.hasPrefix(old) { copy.id = Builder.joined(new, Substring(rule.id.utf8.dropFirst(oldLength))) }
            if rule.statements.contains(where: { if case .log = $0 { true } else { false } }) {
                copy.statements = rule.statements.map { statement in
                    if case .log(let prefix?, let level) = statement, prefix.hasPrefix("sdn \(old) ") {
                        return .log(prefix: "sdn \(new)" + prefix.dropFirst(4 + old.count), level: level)
                    }
                    return statement
                }
            }
            return copy
        }
    }

    /// `first + second` in one allocation, by copying UTF-8 bytes (`+` on a String and a Substring goes
    /// through a slow generic path, and 400,000 rule ids are built this way).
    static func joined(_ first: String, _ second: Substring) -> String {
        var first = first
        var second = second
        let firstCount = first.utf8.count, secondCount = second.utf8.count
        return first.withUTF8 { head in
            second.withUTF8 { tail in
                String(unsafeUninitializedCapacity: firstCount + secondCount) { buffer in
                    _ = buffer.initialize(fromContentsOf: head)
                    _ = buffer[firstCount...].initialize(fromContentsOf: tail)
                    return firstCount + secondCount
                }
            }
        }
    }

    static func replacingRejectWithDrop(_ rule: Rule) -> Rule {
        var copy = rule
        copy.statements = rule.statements.map { if case .reject = $0 { .verdict(.drop) } else { $0 } }
        return copy
    }

    /// The EUI-64 link-local address a guest derives from its MAC (needed for NDP with ipfilter on).
    static func linkLocal(for mac: MACAddress) -> IPPrefix {
        var octets = mac.octets
        octets[0] ^= 0x02
        let eui64: [UInt8] = [octets[0], octets[1], octets[2], 0xff, 0xfe, octets[3], octets[4], octets[5]]
        let interfaceID = eui64.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        let address = (UInt128(0xfe80) << 112) | interfaceID
        return IPPrefix(address: .v6(address), length: 128)
    }

    // MARK: security groups

    private mutating func addGroupChains() {
        for (family, names) in usedGroups.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for name in names.sorted() {
                guard let group = firewall.groups.first(where: { $0.name == name }) else { continue }
                var compiler = RuleCompiler(firewall: firewall, tableFamily: family, logRateLimit: firewall.resolvedOptions(for: .cluster).logRateLimit, ipSetFamilies: ipSetFamilies, aliases: aliasIndex)
                var chains: [Chain] = []
                let directions: [Direction] = family == .bridge ? [.in, .out, .forward] : [.in, .out, .forward]
                for direction in directions {
                    let chainName = FirewallNaming.groupChain(name, direction)
                    var rules = group.rules.flatMap { rule in
                        compiler.compile(rule, placement: .init(chain: chainName, direction: direction, interfaceKey: family == .inet ? (direction == .out ? MetaKey.oifname : .iifname) : nil, logScope: chainName))
                    }
                    // In the bridge table only outbound chains (reached from prerouting) may reject, and only
                    // with nft_reject_bridge.
                    if family == .bridge && (direction != .out || !features.bridgeReject) { rules = rules.map(Builder.replacingRejectWithDrop) }
                    chains.append(Chain(name: chainName, rules: rules))
                }
                diagnostics += compiler.diagnostics
                referencedSets[family, default: []].formUnion(compiler.referencedSets)
                if family == .bridge { bridge.chains += chains } else { inet.chains += chains }
            }
        }
    }
}

extension FirewallRule {
    func appliesTo(_ direction: Direction) -> Bool {
        switch body {
        case .group: true
        case .match(let match): match.direction == direction
        }
    }

    /// The NIC or interface the rule is limited to.
    var interface: String? {
        switch body {
        case .group(_, let iface): iface
        case .match(let match): match.iface
        }
    }

    mutating func stripInterface() {
        switch body {
        case .group(let name, _): body = .group(name: name, iface: nil)
        case .match(var match):
            match.iface = nil
            body = .match(match)
        }
    }
}


/// What one chunk of guests compiles to.
struct GuestChunk: Sendable {
    /// (vnet bridge . port) of the NICs on strict vnet bridges (`vnet_ports`).
    var knownPorts: [SetElement] = []
    var spoofMap: [SetElement] = []
    var outMap: [SetElement] = []
    var inMap: [SetElement] = []
    var inMapV4: [SetElement] = []
    var inMapV6: [SetElement] = []
    var ipv4: [SetElement] = []
    var ipv6: [SetElement] = []
    var spoofChains: [Chain] = []
    var nicChains: [Chain] = []
    var groupMap: [SetElement] = []
    var groupChains: [Chain] = []
    var diagnostics: [Diagnostic] = []
    var usedGroups: [TableFamily: Set<String>] = [:]
    var sharedSets = SharedSetUse()
    var referencedSets: [TableFamily: Set<String>] = [:]
}

extension Builder {
    /// Bridge-family chains see every frame, and conntrack has no entry for ARP (`ct state` reads it as
    /// invalid): without this, the guest and vnet chains would drop all ARP and nothing could resolve a
    /// neighbour. ARP is accepted, as Proxmox does; with ipfilter the spoofing chain has checked its sender.
    static func arpAccept(prefix: String) -> Rule {
        // `meta protocol`, not `ether type`: on a VLAN-aware bridge the frame's tag sits in front of the
        // ether type nft reads, and `ether type arp` would miss every tagged ARP frame.
        Rule(id: "\(prefix)/arp", statements: [.match(.meta(.protocol), .equal, .value(.symbol(.arp))), .verdict(.accept)])
    }
}
