public import SDNModel

/// What finally happens to a packet on a hook.
public enum PacketVerdict: Hashable, Sendable, CustomStringConvertible {
    case accept
    case drop
    case reject(Reject)

    public var description: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .reject(let reject): NFTTextRenderer.render(statement: .reject(reject))
        }
    }
}

/// The path of one packet through the base chains of one hook, rule by rule, as
/// ``PacketInterpreter`` evaluated it; printable for `sdn trace`.
public struct Trace: Hashable, Sendable, CustomStringConvertible {
    /// What a rule (or a chain's end or policy) did with the packet.
    public enum Action: Hashable, Sendable, CustomStringConvertible {
        /// `accept`, `drop`, `jump`, `goto`, `return`, `continue` — from a verdict statement or a verdict map.
        case verdict(Verdict)
        case reject(Reject)
        /// A NAT statement: the packet is translated, and accepted by this base chain.
        case nat(Statement)

        public var description: String {
            switch self {
            case .verdict(let verdict): NFTTextRenderer.render(verdict: verdict)
            case .reject(let reject): NFTTextRenderer.render(statement: .reject(reject))
            case .nat(let statement): NFTTextRenderer.render(statement: statement)
            }
        }
    }

    /// One thing the packet met.
    public struct Step: Hashable, Sendable {
        public enum Kind: Hashable, Sendable {
            /// A rule was evaluated.
            case rule
            /// A base chain ended (or returned) and its policy decided.
            case policy
            /// A chain reached by `jump` or `goto` ran out of rules: back to the chain that jumped.
            case chainEnd
            /// A base chain the packet does not traverse: NAT chains see only a connection's first packet.
            case skipped
        }

        public var kind: Kind
        public var family: TableFamily
        public var table: String
        public var chain: String
        /// The rule's id, for ``Kind/rule`` steps.
        public var ruleID: String?
        /// The rule as nft text (`NFTTextRenderer.render(rule)`), or `policy drop`, `return`, the reason of a skip.
        public var text: String
        /// Where the policy line behind the rule was written.
        public var origin: SourceLocation?
        /// Whether every match of the rule held (for a verdict map: whether the key was found).
        public var matched: Bool
        /// What the step did, if anything: a matching rule with only a counter or log has no action.
        public var action: Action?
        /// How many `jump`s deep the chain is: 0 for the base chain.
        public var depth: Int

        public init(
            kind: Kind, family: TableFamily, table: String, chain: String, ruleID: String? = nil, text: String,
            origin: SourceLocation? = nil, matched: Bool, action: Action? = nil, depth: Int = 0
        ) {
            self.kind = kind
            self.family = family
            self.table = table
            self.chain = chain
            self.ruleID = ruleID
            self.text = text
            self.origin = origin
            self.matched = matched
            self.action = action
            self.depth = depth
        }
    }

    public var packet: Packet
    public var hook: PacketInterpreter.HookPoint
    public var verdict: PacketVerdict
    public var steps: [Step]

    public init(packet: Packet, hook: PacketInterpreter.HookPoint, verdict: PacketVerdict, steps: [Step]) {
        self.packet = packet
        self.hook = hook
        self.verdict = verdict
        self.steps = steps
    }

    /// The ids of the rules that matched, in order.
    public var matchedRuleIDs: [String] {
        steps.filter { $0.kind == .rule && $0.matched }.compactMap(\.ruleID)
    }

    /// One line per step, grouped under a header per chain, indented by jump depth:
    ///
    ///     packet: iif eth0, tcp 192.0.2.7:40000 > 192.0.2.1:22 [syn], ct new
    ///     hook: inet input
    ///     inet sdn input
    ///       no match  iifname "lo" accept comment "node/lo"
    ///       match     tcp dport 22 accept comment "ssh" -> accept  (policy.yaml:4:7)
    ///     verdict: accept
    public var description: String {
        var lines = ["packet: \(packet)", "hook: \(hook)"]
        var lastChain: (TableFamily, String, String, Int)?
        for step in steps {
            let indent = String(repeating: "  ", count: step.depth)
            if lastChain.map({ $0 != (step.family, step.table, step.chain, step.depth) }) ?? true {
                lines.append("\(indent)\(step.family.rawValue) \(step.table) \(step.chain)")
                lastChain = (step.family, step.table, step.chain, step.depth)
            }
            let label: String = switch step.kind {
            case .rule: step.matched ? "match   " : "no match"
            case .policy: "policy  "
            case .chainEnd: "end     "
            case .skipped: "skipped "
            }
            var line = "\(indent)  \(label)  \(step.text)"
            if step.kind == .rule, let action = step.action { line += " -> \(action)" }
            if let origin = step.origin { line += "  (\(origin))" }
            lines.append(line)
        }
        lines.append("verdict: \(verdict)")
        return lines.joined(separator: "\n")
    }
}
