import SDNModel
import Yams

/// Walks a composed YAML tree, turning shape and scalar problems into diagnostics (never throwing) and
/// recording where every value was written.
struct YAMLReader {
    let file: String
    /// The file's lines (`ConfigDocument.lines(of:)`), to place offsets inside scalars folded over
    /// several lines.
    let lines: [Substring]
    var diagnostics: [Diagnostic] = []
    var sources = SourceMap()

    init(file: String, lines: [Substring] = []) {
        self.file = file
        self.lines = lines
    }

    typealias Entry = (key: String, keyNode: Yams.Node, value: Yams.Node)

    func location(of node: Yams.Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    /// Where the text of a scalar starts: one column after an opening quote.
    func contentLocation(of node: Yams.Node) -> SourceLocation? {
        guard let base = location(of: node) else { return nil }
        if let scalar = node.scalar, scalar.style == .singleQuoted || scalar.style == .doubleQuoted {
            return base.advanced(by: 1)
        }
        return base
    }

    /// Where the character `offset` places into a scalar's text sits in the file. A plain or quoted
    /// scalar may be folded over several lines (a line break and the next line's indentation read as
    /// one space), so the offset is walked through the source; where the source does not spell the
    /// text out literally (escapes), it is counted on the first line.
    func location(in node: Yams.Node, offset: Int) -> SourceLocation? {
        guard let base = contentLocation(of: node) else { return nil }
        guard offset > 0, let scalar = node.scalar, scalar.style != .literal, scalar.style != .folded,
              base.line >= 1, base.line <= lines.count else { return base.advanced(by: offset) }
        let value = Array(scalar.string.unicodeScalars)
        var lineIndex = base.line - 1
        var source = Array(lines[lineIndex].unicodeScalars)
        var column = base.column - 1
        var consumed = 0
        while consumed < min(offset, value.count) {
            if column < source.count && source[column] == value[consumed] {
                column += 1
                consumed += 1
            } else if column < source.count && (source[column] == " " || source[column] == "\t") {
                column += 1  // white space before a line break is not part of the text
            } else if column >= source.count && lineIndex + 1 < lines.count {
                // A folded line break: one space in the text (a newline for each blank line).
                lineIndex += 1
                source = Array(lines[lineIndex].unicodeScalars)
                column = source.prefix { $0 == " " || $0 == "\t" }.count
                if value[consumed] == " " || value[consumed] == "\n" { consumed += 1 }
            } else {
                return base.advanced(by: offset)
            }
        }
        return SourceLocation(file: file, line: lineIndex + 1, column: column + 1)
    }

    mutating func error(_ code: DiagnosticCode, _ message: String, at node: Yams.Node?, path: ConfigPath, hint: String? = nil, offset: Int = 0) {
        let place = node.flatMap { self.location(in: $0, offset: offset) }
        diagnostics.append(.error(code, message, at: place, path: path.description, hint: hint))
    }

    mutating func warning(_ code: DiagnosticCode, _ message: String, at node: Yams.Node?, path: ConfigPath, hint: String? = nil) {
        diagnostics.append(.warning(code, message, at: node.flatMap { contentLocation(of: $0) }, path: path.description, hint: hint))
    }

    mutating func record(_ path: ConfigPath, value: Yams.Node, key: Yams.Node? = nil) {
        // Values are located at their text (inside quotes), as the reader's own diagnostics are.
        sources.record(path, value: contentLocation(of: value), key: key.flatMap { location(of: $0) })
    }

    func isNull(_ node: Yams.Node) -> Bool {
        guard let scalar = node.scalar, scalar.style == .plain, strayTag(of: node) == nil else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A local YAML tag the writer most likely meant as text: unquoted, `!10.0.0.0/8` is the tag
    /// `!10.0.0.0/8` on an empty value.
    func strayTag(of node: Yams.Node) -> String? {
        let tag = node.tag.rawValue
        return tag.count > 1 && tag.hasPrefix("!") ? tag : nil
    }

    private func describe(_ node: Yams.Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "nothing" : "the scalar '\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The entries of a mapping in document order; `null` counts as an empty mapping.
    mutating func mapping(_ node: Yams.Node, at path: ConfigPath, what: String = "a mapping") -> [Entry]? {
        if isNull(node) { return [] }
        guard let mapping = node.mapping else {
            error(.expectedMapping, "expected \(what) here, found \(describe(node))", at: node, path: path, hint: "write 'key: value' pairs indented under this key")
            return nil
        }
        var entries: [Entry] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                error(.invalidKey, "keys must be plain text", at: keyNode, path: path)
                continue
            }
            entries.append((key, keyNode, value))
            record(path / key, value: value, key: keyNode)
        }
        return entries
    }

    /// Reports keys that are not in `allowed`, with a suggestion.
    mutating func checkKeys(_ entries: [Entry], allowed: [String], at path: ConfigPath, context: String) {
        for entry in entries where !allowed.contains(entry.key) {
            let hint = Suggestion.hint(for: entry.key, in: allowed) ?? "known keys of \(context): \(allowed.joined(separator: ", "))"
            diagnostics.append(.error(.unknownKey, "unknown key '\(entry.key)' in \(context)", at: location(of: entry.keyNode), path: (path / entry.key).description, hint: hint))
        }
    }

    /// A list's items; a single scalar is accepted as a one-item list.
    mutating func list(_ node: Yams.Node, at path: ConfigPath) -> [(Int, Yams.Node)]? {
        if isNull(node) { return [] }
        if let sequence = node.sequence {
            return sequence.enumerated().map { index, item in
                record(path / index, value: item)
                return (index, item)
            }
        }
        if node.scalar != nil { return [(0, node)] }
        error(.expectedList, "expected a list here, found \(describe(node))", at: node, path: path, hint: "write [a, b] or one '- item' per line")
        return nil
    }

    mutating func string(_ node: Yams.Node, at path: ConfigPath) -> String? {
        if let tag = strayTag(of: node) {
            let written = tag + (node.scalar.map { $0.string.isEmpty ? "" : " " + $0.string } ?? "")
            error(.yamlTag, "'\(tag)' reads as a YAML tag, not as a value", at: node, path: path,
                  hint: "quote it: \"\(written)\" (an unquoted '!' starts a YAML tag)")
            return nil
        }
        guard let scalar = node.scalar, !isNull(node) else {
            error(.expectedScalar, "expected a value here, found \(describe(node))", at: node, path: path)
            return nil
        }
        return scalar.string
    }

    mutating func bool(_ node: Yams.Node, at path: ConfigPath) -> Bool? {
        guard let text = string(node, at: path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(.expectedBool, "'\(text)' is not true or false", at: node, path: path, hint: "write true or false")
            return nil
        }
    }

    mutating func int(_ node: Yams.Node, at path: ConfigPath, range: ClosedRange<Int>? = nil, what: String = "number") -> Int? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = Int(text) else {
            error(.expectedNumber, "'\(text)' is not a whole number", at: node, path: path, hint: range.map { "use a \(what) in \($0.lowerBound)-\($0.upperBound)" })
            return nil
        }
        if let range, !range.contains(value) {
            error(.outOfRange, "\(what) \(value) is out of range", at: node, path: path, hint: "use \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func double(_ node: Yams.Node, at path: ConfigPath) -> Double? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = Double(text) else {
            error(.expectedNumber, "'\(text)' is not a number", at: node, path: path)
            return nil
        }
        return value
    }

    /// Parses a domain scalar; a failure points at the column inside the value where it went wrong.
    mutating func scalar<T>(_ node: Yams.Node, at path: ConfigPath, code: DiagnosticCode = .invalidValue, hint: String? = nil, _ parse: (String) throws(ScalarParseError) -> T) -> T? {
        guard let text = string(node, at: path) else { return nil }
        do {
            return try parse(text)
        } catch {
            self.error(code, error.reason, at: node, path: path, hint: hint, offset: error.offset)
            return nil
        }
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ node: Yams.Node, at path: ConfigPath, what: String) -> E? where E.RawValue == String {
        guard let text = string(node, at: path) else { return nil }
        if let value = E(rawValue: text) ?? E.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) { return value }
        let names = E.allCases.map(\.rawValue)
        error(.invalidValue, "'\(text)' is not a valid \(what)", at: node, path: path,
              hint: Suggestion.hint(for: text, in: names, listing: "one of: \(names.joined(separator: ", "))"))
        return nil
    }

    mutating func interfaceName(_ node: Yams.Node, at path: ConfigPath) -> InterfaceName? {
        scalar(node, at: path, code: .invalidInterfaceName) { text throws(ScalarParseError) in try InterfaceName(text) }
    }

    /// A list of domain scalars; also accepts a comma-separated string.
    mutating func scalarList<T>(_ node: Yams.Node, at path: ConfigPath, _ parse: (String) throws(ScalarParseError) -> T) -> [T] {
        guard let items = list(node, at: path) else { return [] }
        var result: [T] = []
        for (index, item) in items {
            let itemPath = items.count == 1 && node.sequence == nil ? path : path / index
            if let text = item.scalar?.string, node.sequence == nil, text.contains(",") {
                var offset = 0
                for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
                    let trimmed = piece.trimmingCharacters(in: " ")
                    let leading = piece.prefix { $0 == " " }.count
                    do { result.append(try parse(String(trimmed))) } catch {
                        self.error(.invalidValue, error.reason, at: item, path: itemPath, offset: offset + leading + error.offset)
                    }
                    offset += piece.count + 1
                }
            } else if let value = scalar(item, at: itemPath, parse) {
                result.append(value)
            }
        }
        return result
    }
}

extension Suggestion {
    /// "did you mean 'x'? (one of: …)" when a candidate is close, else just "one of: …".
    static func hint(for word: String, in candidates: [String], listing: String) -> String {
        hint(for: word, in: candidates).map { "\($0) (\(listing))" } ?? listing
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var result = self
        while result.first == set { result.removeFirst() }
        while result.last == set { result.removeLast() }
        return result
    }
}
