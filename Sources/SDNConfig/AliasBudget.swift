import SDNModel
import Yams

/// Bounds what YAML aliases can expand to, before the real parse.
///
/// An alias (`*name`) stands for the whole node its anchor (`&name`) labels, so a few lines of nested
/// anchors describe a tree of billions of nodes ("billion laughs"). Yams composes such a tree cheaply
/// (the copies are shared), but anything that walks it does not: Yams's duplicate-key check hashes an
/// aliased mapping key node by node, and the reader walks every value. So the expansion is measured
/// first, on a copy of the text in which every alias is replaced by a tagged placeholder scalar: that
/// copy composes in linear time, and its tree gives each anchor's expanded size. A file whose aliases
/// add more than `maximumAddedNodes` nodes is refused.
struct AliasBudget {
    /// How many nodes alias references may add to one file, all documents together: far more than
    /// sharing an options block or a rule list between thousands of policies needs.
    static let maximumAddedNodes = 1_000_000

    /// The outcome of the check.
    enum Outcome {
        /// The text has no alias, or its aliases stay within the budget: parse it as it is.
        case withinBudget
        /// Expanding aliases would pass the budget; `location` is the alias at which it did.
        case exceeded(line: Int, column: Int, anchor: String)
        /// The text does not parse (the real parse would fail at the same place or earlier). Only its
        /// first `completeDocuments` documents were measured and may be read; `error` is the parse error
        /// in `copy` (the text with placeholders, same lines), `mapColumn` maps its columns back.
        case syntaxError(completeDocuments: Int, error: any Error, copy: String, mapColumn: (_ line: Int, _ column: Int) -> Int)
    }

    static let placeholderTag = "!sdn-alias"

    /// One alias occurrence: where it is in the original text, which anchor it names, and where its
    /// placeholder starts in the copy (same line).
    private struct Alias {
        var line: Int
        var column: Int
        var anchor: String
        var placeholderColumn: Int
        var placeholderLength: Int
        var originalLength: Int
    }

    static func check(_ text: String) -> Outcome {
        guard text.utf8.contains(UInt8(ascii: "*")) else { return .withinBudget }
        let (copy, aliases) = replacingAliases(in: text)
        if aliases.isEmpty { return .withinBudget }
        var measure = Measure(aliases: aliases.map(\.anchor))
        var documents = 0
        do {
            var roots = try Yams.compose_all(yaml: copy)
            while let root = roots.next() {
                if let exceeded = measure.add(root) {
                    let alias = aliases[exceeded]
                    return .exceeded(line: alias.line, column: alias.column, anchor: alias.anchor)
                }
                documents += 1
            }
            if let error = roots.error { throw error }
        } catch {
            let byLine = Dictionary(grouping: aliases, by: \.line)
            return .syntaxError(completeDocuments: documents, error: error, copy: copy) { line, column in
                // Undo the placeholders' extra length before `column` on that line.
                var shift = 0
                for alias in byLine[line] ?? [] where alias.placeholderColumn < column {
                    if column < alias.placeholderColumn + alias.placeholderLength { return alias.column }
                    shift += alias.placeholderLength - alias.originalLength
                }
                return column - shift
            }
        }
        return .withinBudget
    }

    /// libyaml's anchor characters.
    private static func isAnchorCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
    }

    /// The text with each `*name` that can start a YAML token (after a line start, a blank, `[`, `{`,
    /// `,` or `:`) replaced by `!sdn-alias N`, N numbering the aliases. Where such a `*` sits inside a
    /// quoted or block scalar or a comment, the replacement only changes text nobody measures.
    private static func replacingAliases(in text: String) -> (String, [Alias]) {
        var output = String.UnicodeScalarView()
        var aliases: [Alias] = []
        let scalars = Array(text.unicodeScalars)
        var line = 1, column = 1, outputColumn = 1
        var previous: Unicode.Scalar?
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let startsToken = previous.map { " \t[{,:".unicodeScalars.contains($0) || isLineBreak($0) } ?? true
            if scalar == "*", startsToken, index + 1 < scalars.count, isAnchorCharacter(scalars[index + 1]) {
                var end = index + 1
                while end < scalars.count && isAnchorCharacter(scalars[end]) { end += 1 }
                let name = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
                let placeholder = "\(placeholderTag) \(aliases.count)"
                aliases.append(Alias(line: line, column: column, anchor: name, placeholderColumn: outputColumn,
                                     placeholderLength: placeholder.unicodeScalars.count, originalLength: end - index))
                output.append(contentsOf: placeholder.unicodeScalars)
                column += end - index
                outputColumn += placeholder.unicodeScalars.count
                previous = scalars[end - 1]
                index = end
                continue
            }
            output.append(scalar)
            if isLineBreak(scalar) {
                // CR LF is one break.
                if !(scalar == "\r" && index + 1 < scalars.count && scalars[index + 1] == "\n") {
                    line += 1
                    column = 0
                    outputColumn = 0
                }
            }
            column += 1
            outputColumn += 1
            previous = scalar
            index += 1
        }
        return (String(output), aliases)
    }

    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\n" || scalar == "\r" || scalar == "\u{85}" || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    /// Walks placeholder trees in document order, as Yams composes the real ones: an anchor is
    /// defined once its node is complete, and an alias stands for the latest definition before it.
    private struct Measure {
        let aliases: [String]
        var anchorSizes: [String: Int] = [:]
        var added = 0
        var exceededAt: Int?

        init(aliases: [String]) { self.aliases = aliases }

        /// Measures one document; the index of the alias that passed the budget, if one did.
        mutating func add(_ root: Yams.Node) -> Int? {
            _ = size(of: root)
            return exceededAt
        }

        /// The node's size once its aliases are expanded, saturating just above the budget.
        private mutating func size(of node: Yams.Node) -> Int {
            if exceededAt != nil { return AliasBudget.maximumAddedNodes + 1 }
            var total = 1
            switch node {
            case .scalar(let scalar):
                if node.tag.rawValue == AliasBudget.placeholderTag, let index = Int(scalar.string), aliases.indices.contains(index) {
                    let expanded = anchorSizes[aliases[index]] ?? 1
                    added = Self.saturatingSum(added, expanded)
                    if added > AliasBudget.maximumAddedNodes { exceededAt = index }
                    return expanded
                }
            case .mapping(let mapping):
                for (key, value) in mapping {
                    total = Self.saturatingSum(total, size(of: key))
                    total = Self.saturatingSum(total, size(of: value))
                }
            case .sequence(let sequence):
                for item in sequence { total = Self.saturatingSum(total, size(of: item)) }
            case .alias:
                break
            }
            if let anchor = node.anchor?.rawValue { anchorSizes[anchor] = total }
            return total
        }

        private static func saturatingSum(_ a: Int, _ b: Int) -> Int {
            min(a + b, AliasBudget.maximumAddedNodes + 1)
        }
    }
}
