import SDNModel

/// Renders the IR as `nft` text that `nft -f` loads unchanged, laid out as `nft list ruleset` prints it.
public enum NFTTextRenderer {
    /// The whole ruleset. With `replacing`, each table is preceded by `add table …; delete table …`
    /// so loading the file replaces our tables atomically (nft -f runs one transaction).
    public static func render(_ ruleset: Ruleset, replacing: Bool = false) -> String {
        var output = ""
        for table in ruleset.tables {
            if replacing {
                output += "add table \(table.family.rawValue) \(table.name)\ndelete table \(table.family.rawValue) \(table.name)\n"
            }
            output += render(table)
        }
        return output
    }

    public static func render(_ table: Table) -> String {
        var lines = ["table \(table.family.rawValue) \(table.name) {"]
        // Verdict-map elements name chains, and nft adds objects in the order it reads them: declare
        // every chain (with its hook) before the maps, and fill in the rules afterwards.
        let declareChainsFirst = table.sets.contains { $0.data == .verdict && !$0.elements.isEmpty }
        if declareChainsFirst {
            for chain in table.chains {
                lines.append("\tchain \(chain.name) {")
                if let base = chain.base {
                    lines.append("\t\ttype \(base.type.rawValue) hook \(base.hook.rawValue) priority \(base.priority); policy \(base.policy.rawValue);")
                }
                lines.append("\t}")
            }
        }
        for set in table.sets {
            lines += render(set).map { "\t" + $0 }
        }
        for chain in table.chains {
            if declareChainsFirst && chain.rules.isEmpty { continue }
            lines.append("\tchain \(chain.name) {")
            if let base = chain.base, !declareChainsFirst {
                lines.append("\t\ttype \(base.type.rawValue) hook \(base.hook.rawValue) priority \(base.priority); policy \(base.policy.rawValue);")
            }
            for rule in chain.rules {
                lines.append("\t\t" + render(rule))
            }
            lines.append("\t}")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func render(_ set: NamedSet) -> [String] {
        var lines = ["\(set.isMap ? "map" : "set") \(set.name) {"]
        let key = set.keyType.map(\.rawValue).joined(separator: " . ")
        lines.append("\ttype \(key)" + (set.data.map { " : \($0.rawValue)" } ?? ""))
        if !set.flags.isEmpty {
            lines.append("\tflags \(set.flags.sorted().map(\.rawValue).joined(separator: ","))")
        }
        if !set.elements.isEmpty {
            let elements = set.elements.map(render(element:))
            lines.append("\telements = { " + elements.joined(separator: ",\n\t\t     ") + " }")
        }
        lines.append("}")
        return lines
    }

    public static func render(element: SetElement) -> String {
        let key = element.key.map(render(value:)).joined(separator: " . ")
        return element.data.map { "\(key) : \(render(value: $0))" } ?? key
    }

    public static func render(_ rule: Rule) -> String {
        let body = rule.statements.map(render(statement:)).joined(separator: " ")
        return body + " comment \(quoted(rule.id))"
    }

    public static func render(statement: Statement) -> String {
        switch statement {
        case .match(let left, let op, let right):
            // Equality on a flag field must be written: nft reads `tcp flags syn` as the flag test
            // `tcp flags & syn != 0` (`.implicit`), and only `tcp flags == syn` as equality.
            let isFlagField = left.field?.datatype.isBitmask == true
            let writesEquality = op == .equal && isFlagField
            let operatorText = (op == .implicit || (op == .equal && !writesEquality)) ? "" : op.rawValue + " "
            // After a bitwise and, the operator is always written and compared flags are grouped:
            // `tcp flags & (fin|syn) == fin|syn`, `tcp flags & (syn|rst) == 0`.
            if case .bitwiseAnd = left {
                let comparison = op == .implicit ? "==" : op.rawValue
                if case .value(.flags(let names)) = right {
                    return "\(render(expression: left)) \(comparison) \(names.joined(separator: "|"))"
                }
                return "\(render(expression: left)) \(comparison) \(render(expression: right))"
            }
            return "\(render(expression: left)) \(operatorText)\(render(expression: right))"
        case .counter:
            return "counter"
        case .log(let prefix, let level):
            var text = "log"
            if let prefix { text += " prefix \(quoted(prefix))" }
            // nft spells warning `warn` ("invalid log level" otherwise).
            if let level, level != .nolog { text += " level \(level == .warning ? "warn" : level.rawValue)" }
            return text
        case .limit(let rate, let per, let burst):
            return "limit rate \(rate)/\(per) burst \(burst) packets"
        case .verdict(let verdict):
            return render(verdict: verdict)
        case .vmap(let key, let map):
            return "\(render(expression: key)) vmap @\(map)"
        case .reject(let reject):
            switch reject {
            case .default: return "reject"
            case .tcpReset: return "reject with tcp reset"
            case .icmpx(let code): return "reject with icmpx \(code)"
            }
        case .masquerade:
            return "masquerade"
        case .snat(let to):
            return "snat\(natFamily(to)) to \(render(value: to))"
        case .dnat(let to, let port):
            // An IPv6 address before a port needs brackets, or nft reads the port as part of the address.
            guard let port else { return "dnat\(natFamily(to)) to \(render(value: to))" }
            if case .address(.v6) = to { return "dnat ip6 to [\(render(value: to))]:\(port)" }
            return "dnat\(natFamily(to)) to \(render(value: to)):\(port)"
        }
    }

    /// ` ip` / ` ip6` after snat/dnat: required in inet tables ("ip or ip6 must be specified with
    /// address for inet tables") and accepted in ip and ip6 tables.
    static func natFamily(_ to: Value) -> String {
        switch to {
        case .address(.v4), .range(.address(.v4), _): " ip"
        case .address(.v6), .range(.address(.v6), _): " ip6"
        case .prefix(let prefix): prefix.family == .ipv4 ? " ip" : " ip6"
        default: ""
        }
    }

    public static func render(verdict: Verdict) -> String {
        switch verdict {
        case .accept: "accept"
        case .drop: "drop"
        case .continue: "continue"
        case .return: "return"
        case .jump(let chain): "jump \(chain)"
        case .goto(let chain): "goto \(chain)"
        }
    }

    public static func render(expression: Expression) -> String {
        switch expression {
        case .payload(let field): return field.description
        case .meta(let key): return key.isPrintedBare ? key.name : "meta \(key.name)"
        case .ct(let key): return "ct \(key.name)"
        case .unrecognised(let text): return text
        case .value(let value): return render(value: value)
        case .set(let values): return "{ " + values.map(render(value:)).joined(separator: ", ") + " }"
        case .setReference(let name): return "@\(name)"
        case .concat(let parts): return parts.map(render(expression:)).joined(separator: " . ")
        case .bitwiseAnd(let left, let right):
            if case .value(.flags(let names)) = right, names.count > 1 {
                return "\(render(expression: left)) & (\(names.joined(separator: "|")))"
            }
            return "\(render(expression: left)) & \(render(expression: right))"
        }
    }

    public static func render(value: Value) -> String {
        switch value {
        case .string(let text): return quoted(text)
        case .integer(let number): return String(number)
        case .address(let address): return address.description
        case .prefix(let prefix): return prefix.masked.description
        case .range(let low, let high): return "\(render(value: low))-\(render(value: high))"
        case .ether(let mac): return mac.description
        case .symbol(let symbol): return symbol.name
        case .flags(let names): return names.joined(separator: ",")
        case .verdict(let verdict): return render(verdict: verdict)
        }
    }

    /// Whether nft can read `name` as a table, chain, set or map name: nft's grammar takes only a bare
    /// word there (`identifier: STRING`), never a quoted string, so a name that is not a plain word
    /// or that nft's scanner takes for a keyword (`fwd`, `set`, `counter`) cannot be written at all —
    /// `chain "fwd"` is refused as well (checked against nft 1.0.6, whose own `list ruleset` prints
    /// such a chain unloadably). The kernel and nft's JSON take any name; the text does not, so
    /// whoever names things checks here (the compiler's names all carry a prefix and pass).
    public static func canWrite(name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == "." else { return false }
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || "/\\_.-".unicodeScalars.contains($0) }
        return allowed && !reservedWords.contains(name)
    }

    /// The table, chain and set names of `ruleset` that ``canWrite(name:)`` refuses, each once.
    public static func unwritableNames(in ruleset: Ruleset) -> [String] {
        var names: [String] = []
        for table in ruleset.tables {
            for name in [table.name] + table.chains.map(\.name) + table.sets.map(\.name) where !canWrite(name: name) && !names.contains(name) {
                names.append(name)
            }
        }
        return names
    }

    /// Words nft 1.0.6's scanner returns as keywords wherever a name can stand, so `chain <word>`
    /// does not parse (`NFTTextLoadTests` loads each through `nft -c` to keep the list honest). Hook
    /// and type names (`input`, `forward`, `filter`) are plain words there and are not listed.
    public static let reservedWords: Set<String> = [
        "accept", "drop", "continue", "jump", "goto", "return", "inet", "netdev", "add", "replace", "update", "create", "insert",
        "delete", "get", "list", "reset", "flush", "rename", "import", "export", "monitor", "position", "index", "comment",
        "constant", "interval", "dynamic", "timeout", "elements", "expires", "policy", "size", "flow", "offload", "meter",
        "counter", "log", "queue", "limit", "quota", "hour", "day", "reject", "snat", "dnat", "masquerade", "redirect", "random",
        "th", "bridge", "ether", "type", "typeof", "vlan", "arp", "ip", "ecn", "time", "icmp", "icmpv6", "igmp", "ip6",
        "priority", "ah", "esp", "comp", "flags", "udp", "udplite", "tcp", "dccp", "sctp", "rt", "rt0", "rt2", "srh", "hbh",
        "frag", "dst", "mh", "meta", "mark", "iif", "iifname", "iiftype", "oif", "oifname", "oiftype", "skuid", "skgid",
        "nftrace", "rtclassid", "ibriport", "ibrname", "obriport", "obrname", "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup",
        "ct", "numgen", "jhash", "symhash", "dup", "fwd", "fib", "osf", "synproxy", "notrack", "all", "table", "chain", "set",
        "map", "rule", "element", "flowtable", "secmark", "hook", "device", "devices", "define", "redefine", "undefine",
        "include", "describe", "handle", "vmap", "ruleset",
    ]

    /// nft strings have no escape sequences: a backslash is taken literally (escaping it would double
    /// it). A double quote cannot be written at all; it stays escaped so nft fails loudly on it.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingAll("\"", with: "\\\"") + "\""
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
