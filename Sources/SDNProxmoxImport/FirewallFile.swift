import SDNModel

/// One Proxmox firewall file (`cluster.fw`, `host.fw`, `<vmid>.fw`, a vnet's `.fw`) as written: its
/// sections and lines, each with its place. The grammar is pve-firewall's (`src/PVE/Firewall.pm`,
/// `generic_fw_config_parser`): `[OPTIONS]`, `[ALIASES]`, `[IPSET name] # comment`, `[RULES]`,
/// `[group name] # comment`; section names ignore case; `#` starts a comment line.
struct PVEFirewallFile {
    enum Level: String {
        case cluster, host, guest, vnet

        /// The sections a file of this level may have (pve-firewall's `$empty_conf` per level).
        var sections: Set<String> {
            switch self {
            case .cluster: ["options", "aliases", "ipset", "rules", "group"]
            case .host: ["options", "rules"]
            case .guest: ["options", "aliases", "ipset", "rules"]
            case .vnet: ["options", "rules"]
            }
        }
    }

    struct Option {
        var line: SourceLine
        var key: Substring
        var value: Substring
    }

    struct AliasLine {
        var line: SourceLine
        var name: Substring
        var cidr: Substring
        var comment: String?
    }

    struct IPSetEntryLine {
        var line: SourceLine
        var excluded: Bool
        var value: Substring
        var comment: String?
    }

    struct IPSetSection {
        var header: SourceLine
        var name: String
        var comment: String?
        var entries: [IPSetEntryLine] = []
    }

    struct GroupSection {
        var header: SourceLine
        var name: String
        var comment: String?
        var rules: [PVERule] = []
    }

    var path: String
    var level: Level
    var options: [Option] = []
    var aliases: [AliasLine] = []
    var ipsets: [IPSetSection] = []
    var rules: [PVERule] = []
    var groups: [GroupSection] = []

    /// Reads the file, reporting every line it cannot read as a located error (the rest still counts).
    static func parse(_ text: String, path: String, level: Level, into accounting: inout Accounting) -> PVEFirewallFile {
        var file = PVEFirewallFile(path: path, level: level)
        enum Section { case none, options, aliases, ipset, rules, group, unknown }
        var section = Section.none
        for line in SourceLine.lines(of: text, file: path) {
            let text = line.text
            if text.isEmpty || text.hasPrefix("#") {
                accounting.structure(line)
                continue
            }
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else {
                    accounting.error(.pveSyntax, "section header without ']'", at: line.location, hint: "write e.g. [RULES] or [IPSET name]")
                    section = .unknown
                    continue
                }
                let inside = text[text.index(after: text.startIndex)..<close]
                let words = inside.split(whereSeparator: { $0 == " " || $0 == "\t" })
                let keyword = words.first.map { $0.lowercased() } ?? ""
                let rest = text[text.index(after: close)...].drop { $0 == " " || $0 == "\t" }
                var comment: String?
                if rest.hasPrefix("#") {
                    comment = String(rest.dropFirst().drop { $0 == " " })
                } else if !rest.isEmpty {
                    accounting.error(.pveSyntax, "unexpected '\(rest)' after the section header", at: line.location(of: rest), hint: "a comment after a header starts with '#'")
                }
                guard level.sections.contains(keyword) else {
                    let known = level.sections.sorted().map { $0 == "ipset" || $0 == "group" ? "[\($0.uppercased()) name]" : "[\($0.uppercased())]" }
                    accounting.error(.pveUnknownSection, "'[\(inside)]' is not a section of a \(level.rawValue) firewall file; its lines are not imported",
                                     at: line.location, hint: "sections here: \(known.joined(separator: ", "))")
                    section = .unknown
                    continue
                }
                switch keyword {
                case "options", "aliases", "rules":
                    guard words.count == 1 else {
                        accounting.error(.pveSyntax, "[\(keyword.uppercased())] takes no name", at: line.location(of: words[1]))
                        section = .unknown
                        continue
                    }
                    section = keyword == "options" ? .options : keyword == "aliases" ? .aliases : .rules
                    accounting.structure(line)
                case "ipset", "group":
                    guard words.count == 2 else {
                        accounting.error(.pveSyntax, "[\(keyword.uppercased()) name] needs exactly one name", at: line.location(of: inside), hint: "write e.g. [\(keyword.uppercased()) webservers]")
                        section = .unknown
                        continue
                    }
                    // Proxmox lower-cases these names (and matches references ignoring case).
                    let name = words[1].lowercased()
                    if let problem = PVEFirewallFile.nameProblem(name, maximumLength: keyword == "group" ? 18 : 64) {
                        accounting.error(.pveInvalidName, "invalid \(keyword == "group" ? "security group" : "IP set") name: \(problem)", at: line.location(of: words[1]))
                        section = .unknown
                        continue
                    }
                    if keyword == "ipset" {
                        file.ipsets.append(IPSetSection(header: line, name: name, comment: comment))
                        section = .ipset
                    } else {
                        file.groups.append(GroupSection(header: line, name: name, comment: comment))
                        section = .group
                    }
                    accounting.mapped(line)
                default:
                    break
                }
                continue
            }
            switch section {
            case .none:
                accounting.error(.pveSyntax, "line outside any section", at: line.location, hint: "start the file with a section header such as [OPTIONS] or [RULES]")
            case .unknown:
                // Reported once at the section's header.
                accounting.ledger.mark(line, .error)
            case .options:
                guard let colon = text.firstIndex(of: ":") else {
                    accounting.error(.pveSyntax, "an option is written 'name: value'", at: line.location)
                    continue
                }
                let key = text[..<colon]
                let value = text[text.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
                file.options.append(Option(line: line, key: key, value: value))
            case .aliases:
                let (body, comment) = splitComment(text)
                let words = body.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count == 2 else {
                    accounting.error(.pveSyntax, "an alias is written 'name address' (an address or CIDR, then an optional # comment)", at: line.location)
                    continue
                }
                file.aliases.append(AliasLine(line: line, name: words[0], cidr: words[1], comment: comment))
            case .ipset:
                let (body, comment) = splitComment(text)
                var value = body
                let excluded = value.first == "!"
                if excluded { value = value.dropFirst().drop { $0 == " " || $0 == "\t" } }
                guard !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\t" }) else {
                    accounting.error(.pveSyntax, "an IP set entry is one address, CIDR, range or alias, optionally preceded by '!'", at: line.location)
                    continue
                }
                file.ipsets[file.ipsets.count - 1].entries.append(IPSetEntryLine(line: line, excluded: excluded, value: value, comment: comment))
            case .rules, .group:
                switch PVERule.parse(line) {
                case .success(let rule):
                    if section == .rules { file.rules.append(rule) } else { file.groups[file.groups.count - 1].rules.append(rule) }
                case .failure(let error):
                    accounting.error(.pveRuleSyntax, error.message, at: error.location, hint: error.hint)
                }
            }
        }
        return file
    }

    /// `text # comment` → (`text`, `comment`); Proxmox cuts at the first `#`.
    static func splitComment(_ text: Substring) -> (Substring, String?) {
        guard let hash = text.firstIndex(of: "#") else { return (text, nil) }
        var body = text[..<hash]
        while let last = body.last, last == " " || last == "\t" { body = body.dropLast() }
        var comment = text[text.index(after: hash)...].drop { $0 == " " || $0 == "\t" }
        while let last = comment.last, last == " " || last == "\t" { comment = comment.dropLast() }
        return (body, comment.isEmpty ? nil : String(comment))
    }

    /// Proxmox's name pattern for groups, IP sets and aliases: `[A-Za-z][A-Za-z0-9\-_]+`.
    static func nameProblem(_ name: String, maximumLength: Int) -> String? {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return "'\(name)' must start with a letter" }
        guard name.count >= 2 else { return "'\(name)' is shorter than 2 characters" }
        guard name.count <= maximumLength else { return "'\(name)' is longer than \(maximumLength) characters" }
        if let bad = name.unicodeScalars.first(where: { !($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")) }) {
            return "'\(name)' contains '\(bad.escaped(asASCII: true))'; names use letters, digits, '-' and '_'"
        }
        return nil
    }
}

/// One rule line as pve-firewall's `parse_fw_rule` reads it:
///
///     [|]DIRECTION ACTION [-i IFACE] [-source ADDR] [-dest ADDR] [-p PROTO] [-dport PORTS] [-sport PORTS]
///         [-log LEVEL] [-icmp-type TYPE] [# comment]
///     [|]GROUP name [-i IFACE] [# comment]
///
/// DIRECTION is IN, OUT or FORWARD; ACTION is ACCEPT, DROP, REJECT or `Macro(ACTION)`. Options may
/// also be written with two dashes (`--dport`), and `-p` as `--proto`. Each part keeps its text, so
/// later checks can point at its column.
struct PVERule {
    var line: SourceLine
    var enabled: Bool
    var type: Substring
    var action: Substring
    var macro: Substring?
    var options: [Substring: Substring] = [:]
    var comment: String?

    struct ParseError: Error {
        var message: String
        var location: SourceLocation
        var hint: String?
    }

    static let optionNames: [String: String] = [
        "-i": "iface", "-p": "proto", "-proto": "proto", "--proto": "proto",
        "-dport": "dport", "--dport": "dport", "-sport": "sport", "--sport": "sport",
        "-source": "source", "--source": "source", "-dest": "dest", "--dest": "dest",
        "-log": "log", "--log": "log", "-icmp-type": "icmp-type", "--icmp-type": "icmp-type",
    ]

    func option(_ name: String) -> Substring? { options[Substring(name)] }

    static func parse(_ line: SourceLine) -> Result<PVERule, ParseError> {
        let (body, comment) = PVEFirewallFile.splitComment(line.text)
        var rest = body
        let enabled = rest.first != "|"
        if !enabled { rest = rest.dropFirst() }
        let words = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 2 else {
            return .failure(ParseError(message: "a rule needs a direction and an action", location: line.location(of: rest),
                                       hint: "write e.g. 'IN ACCEPT -p tcp -dport 22' or 'GROUP webservers'"))
        }
        let type = words[0]
        var rule = PVERule(line: line, enabled: enabled, type: type, action: words[1], comment: comment)
        let upper = type.uppercased()
        guard ["IN", "OUT", "FORWARD", "GROUP"].contains(upper) else {
            return .failure(ParseError(message: "'\(type)' is not a rule direction", location: line.location(of: type),
                                       hint: suggest(String(type), in: ["IN", "OUT", "FORWARD", "GROUP"], listing: "rules start with IN, OUT, FORWARD or GROUP")))
        }
        if upper != "GROUP" {
            let action = words[1]
            if let open = action.firstIndex(of: "("), action.last == ")" {
                let inner = action[action.index(after: open)..<action.index(before: action.endIndex)]
                rule.macro = action[..<open]
                rule.action = inner
            }
            guard ["ACCEPT", "DROP", "REJECT"].contains(rule.action) else {
                return .failure(ParseError(message: "'\(rule.action)' is not an action", location: line.location(of: rule.action),
                                           hint: "actions are ACCEPT, DROP and REJECT (upper case), or a macro with one of them: SSH(ACCEPT)"))
            }
        }
        var index = 2
        while index < words.count {
            let word = words[index]
            guard let name = optionNames[String(word)] else {
                return .failure(ParseError(message: "unknown rule option '\(word)'", location: line.location(of: word),
                                           hint: suggest(String(word), in: ["-i", "-source", "-dest", "-p", "-dport", "-sport", "-log", "-icmp-type"],
                                                                 listing: "options: -i, -source, -dest, -p, -dport, -sport, -log, -icmp-type")))
            }
            if upper == "GROUP" && name != "iface" {
                return .failure(ParseError(message: "a GROUP rule takes only -i", location: line.location(of: word), hint: "the group's own rules say what they match"))
            }
            guard index + 1 < words.count else {
                return .failure(ParseError(message: "'\(word)' needs a value", location: line.location(of: word)))
            }
            if rule.options[Substring(name)] != nil {
                return .failure(ParseError(message: "'\(word)' is given twice", location: line.location(of: word)))
            }
            rule.options[Substring(name)] = words[index + 1]
            index += 2
        }
        return .success(rule)
    }
}
