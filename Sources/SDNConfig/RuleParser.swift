import SDNModel

/// The compact one-line rule form:
///
///     [id ID] DIRECTION ACTION [MACRO | PROTO] [proto P] [sport PORTS] [dport PORTS] [type ICMPTYPE]
///             [from ADDRS] [to ADDRS] [iface IF] [log LEVEL] [disabled] [# comment]
///     [id ID] group NAME [iface IF] [disabled] [# comment]
///
/// e.g. `in accept tcp dport 80,443 from @office log info`. Errors carry the character offset of the
/// offending word so diagnostics point at the column inside the string.
struct RuleParser {
    struct ParsedRule {
        var body: FirewallRule.Body
        var id: String?
        var enabled = true
        var comment: String?
        /// Offset of each clause's value, keyed by the structured form's field name (`dport`, `source` …).
        var fieldOffsets: [String: Int] = [:]
    }

    struct SyntaxError: Error {
        var message: String
        var hint: String?
        var offset: Int
    }

    private struct Token {
        var text: String
        var offset: Int
    }

    static let clauseKeywords = ["proto", "sport", "dport", "type", "from", "to", "iface", "log", "disabled"]

    static func parse(_ line: String) throws(SyntaxError) -> ParsedRule {
        let (tokens, comment) = tokenize(line)
        var index = 0
        func peek() -> Token? { index < tokens.count ? tokens[index] : nil }
        func next(_ expected: String, hint: String? = nil) throws(SyntaxError) -> Token {
            guard let token = peek() else {
                throw SyntaxError(message: "the rule ends where \(expected) was expected", hint: hint, offset: line.count)
            }
            index += 1
            return token
        }

        var id: String?
        if peek()?.text == "id" {
            index += 1
            let token = try next("a rule id after 'id'")
            if let problem = Identifier.ruleIDProblem(with: token.text) {
                throw SyntaxError(message: "invalid rule id: \(problem)", hint: nil, offset: token.offset)
            }
            id = token.text
        }
        guard let first = peek() else {
            throw SyntaxError(message: "empty rule", hint: "write e.g. 'in accept tcp dport 22'", offset: 0)
        }

        if first.text.lowercased() == "group" {
            index += 1
            let name = try next("a security group name after 'group'")
            var rule = ParsedRule(body: .group(name: name.text, iface: nil), id: id, comment: comment)
            rule.fieldOffsets["group"] = name.offset
            var iface: String?
            while let token = peek() {
                index += 1
                switch token.text {
                case "iface":
                    let value = try next("an interface after 'iface'")
                    iface = value.text
                    rule.fieldOffsets["iface"] = value.offset
                case "disabled":
                    rule.enabled = false
                default:
                    throw SyntaxError(message: "unexpected '\(token.text)' in a group rule", hint: "a group rule takes only 'iface IF' and 'disabled'", offset: token.offset)
                }
            }
            rule.body = .group(name: name.text, iface: iface)
            return rule
        }

        let directionToken = try next("a direction")
        guard let direction = Direction(rawValue: directionToken.text.lowercased()) else {
            throw SyntaxError(message: "'\(directionToken.text)' is not a direction",
                              hint: Suggestion.hint(for: directionToken.text, in: Direction.allCases.map(\.rawValue) + ["group"], listing: "a rule starts with in, out, forward or group"),
                              offset: directionToken.offset)
        }
        let actionToken = try next("an action (accept, drop or reject)")
        guard let action = RuleAction(rawValue: actionToken.text.lowercased()) else {
            throw SyntaxError(message: "'\(actionToken.text)' is not an action",
                              hint: Suggestion.hint(for: actionToken.text, in: RuleAction.allCases.map(\.rawValue)) ?? "use accept, drop or reject",
                              offset: actionToken.offset)
        }
        var match = RuleMatch(direction: direction, action: action)
        var rule = ParsedRule(body: .match(match), id: id, comment: comment)

        if let token = peek(), !clauseKeywords.contains(token.text) {
            index += 1
            if let proto = IPProtocolName(token.text) {
                match.proto = proto
                rule.fieldOffsets["proto"] = token.offset
            } else if Identifier.problem(with: token.text) == nil {
                match.macro = token.text
                rule.fieldOffsets["macro"] = token.offset
            } else {
                throw SyntaxError(message: "'\(token.text)' is neither a protocol nor a macro name", hint: "after the action write a macro (SSH, HTTPS …), a protocol (tcp, udp, icmp …) or a clause", offset: token.offset)
            }
        }

        var seen = Set<String>()
        while let token = peek() {
            index += 1
            let keyword = token.text
            guard clauseKeywords.contains(keyword) else {
                throw SyntaxError(message: "unexpected '\(keyword)'",
                                  hint: Suggestion.hint(for: keyword, in: clauseKeywords, listing: "clauses: \(clauseKeywords.joined(separator: ", "))"),
                                  offset: token.offset)
            }
            guard seen.insert(keyword).inserted else {
                throw SyntaxError(message: "'\(keyword)' appears twice", hint: "give several values as one comma-separated list", offset: token.offset)
            }
            if keyword == "disabled" {
                rule.enabled = false
                continue
            }
            let value = try next("a value after '\(keyword)'")
            switch keyword {
            case "proto":
                guard match.proto == nil else { throw SyntaxError(message: "the protocol is given twice", hint: nil, offset: token.offset) }
                guard let proto = IPProtocolName(value.text) else {
                    throw SyntaxError(message: "'\(value.text)' is not a protocol", hint: Suggestion.hint(for: value.text, in: IPProtocolName.named.keys) ?? "use a name such as tcp, udp, icmp, icmpv6, gre or a number 0-255", offset: value.offset)
                }
                match.proto = proto
                rule.fieldOffsets["proto"] = value.offset
            case "sport", "dport":
                let ports: [PortRange]
                do { ports = try PortRange.parseList(value.text) } catch {
                    throw SyntaxError(message: error.reason, hint: "write ports like 22, 80,443 or 8000-8080", offset: value.offset + error.offset)
                }
                if keyword == "sport" { match.sport = ports } else { match.dport = ports }
                rule.fieldOffsets[keyword] = value.offset
            case "type":
                match.icmpType = value.text
                rule.fieldOffsets["icmp-type"] = value.offset
            case "from", "to":
                var addresses: [AddressMatch] = []
                var offset = 0
                for part in value.text.split(separator: ",", omittingEmptySubsequences: false) {
                    do { addresses.append(try AddressMatch(String(part))) } catch {
                        throw SyntaxError(message: error.reason, hint: "write addresses, prefixes, ranges (a-b) or @alias / @ipset, separated by commas", offset: value.offset + offset + error.offset)
                    }
                    offset += part.count + 1
                }
                if keyword == "from" { match.source = addresses } else { match.destination = addresses }
                rule.fieldOffsets[keyword == "from" ? "source" : "dest"] = value.offset
            case "iface":
                match.iface = value.text
                rule.fieldOffsets["iface"] = value.offset
            case "log":
                guard let level = LogLevel(rawValue: value.text.lowercased()) else {
                    throw SyntaxError(message: "'\(value.text)' is not a log level", hint: Suggestion.hint(for: value.text, in: LogLevel.allCases.map(\.rawValue), listing: "levels: \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))"), offset: value.offset)
                }
                match.log = level
                rule.fieldOffsets["log"] = value.offset
            default:
                break
            }
        }
        rule.body = .match(match)
        return rule
    }

    /// Splits on spaces, remembering offsets; everything from a word starting with `#` is the comment.
    private static func tokenize(_ line: String) -> ([Token], String?) {
        var tokens: [Token] = []
        var current = ""
        var start = 0
        var offset = 0
        var comment: String?
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if current.isEmpty && character == "#" {
                let text = line[line.index(after: index)...]
                comment = String(text.trimmingCharacters(in: " "))
                break
            }
            if character.isWhitespace {  // a blank line folded into the rule reads as "\n"
                if !current.isEmpty { tokens.append(Token(text: current, offset: start)) }
                current = ""
            } else {
                if current.isEmpty { start = offset }
                current.append(character)
            }
            offset += 1
            index = line.index(after: index)
        }
        if !current.isEmpty { tokens.append(Token(text: current, offset: start)) }
        return (tokens, comment)
    }
}
