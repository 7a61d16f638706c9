import SDNModel

/// Writes block-style YAML with comments, line by line, for the importers (Proxmox, libvirt): the
/// importer decides the order of everything, so the same input always gives the same bytes.
public struct YAMLWriter: Sendable {
    public private(set) var lines: [String] = []

    public init() {}

    public var text: String { lines.joined(separator: "\n") + "\n" }

    public mutating func comment(_ text: String, indent: Int = 0) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(String(repeating: "  ", count: indent) + (line.isEmpty ? "#" : "# " + line))
        }
    }

    public mutating func blank() { lines.append("") }

    /// `key:` opening a nested mapping or list.
    public mutating func open(_ key: String, indent: Int) {
        lines.append(String(repeating: "  ", count: indent) + Self.key(key) + ":")
    }

    /// `key: value` (the value already formatted with `scalar`/`flow`).
    public mutating func field(_ key: String, _ value: String, indent: Int, comment: String? = nil) {
        lines.append(String(repeating: "  ", count: indent) + Self.key(key) + ": " + value + (comment.map { "  # " + Self.oneLine($0) } ?? ""))
    }

    /// `- value`.
    public mutating func item(_ value: String, indent: Int, comment: String? = nil) {
        lines.append(String(repeating: "  ", count: indent) + "- " + value + (comment.map { "  # " + Self.oneLine($0) } ?? ""))
    }

    public static func oneLine(_ text: String) -> String { String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 }) }

    /// A mapping key: guest ids stay bare numbers, which the loader reads as their keys.
    public static func key(_ text: String) -> String { isPlain(text) || (!text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }) ? text : quoted(text) }

    /// A string scalar: plain when YAML reads it back as the same string, double-quoted otherwise.
    public static func scalar(_ text: String) -> String { isPlain(text) ? text : quoted(text) }

    public static func flow(_ items: [String]) -> String { "[" + items.map(scalar).joined(separator: ", ") + "]" }

    public static func bool(_ value: Bool) -> String { value ? "true" : "false" }

    private static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"]

    public static func isPlain(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !reserved.contains(text.lowercased()) else { return false }
        let allowed = text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-./+".unicodeScalars.contains($0)) }
        guard allowed else { return false }
        if first.properties.isAlphabetic || first == "_" { return true }
        // Digits first: plain only when YAML cannot read a number (an IPv4 address or prefix has
        // several dots; a bare number stays a string only when quoted).
        return text.filter { $0 == "." }.count >= 2 || (text.contains("/") && text.contains("."))
    }

    /// A double-quoted YAML scalar: JSON's string escapes are YAML's too.
    public static func quoted(_ text: String) -> String { text.jsonLiteral }
}
