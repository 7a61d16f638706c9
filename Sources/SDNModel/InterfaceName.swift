/// A Linux network interface name, checked against the kernel's rules (`dev_valid_name`): 1–15 bytes
/// (IFNAMSIZ - 1), no `/`, `:` or white space, and not `.` or `..`; and against what nftables can
/// write, since every interface name may end up in a rule: no `"` (nft's text format has no way to
/// quote it), no `\` or `*` (nft reads them as wildcard syntax), and no `@` first (nft's JSON format
/// reads `"@x"` as a reference to set `x`).
public struct InterfaceName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The kernel's IFNAMSIZ minus the terminating NUL.
    public static let maximumLength = 15

    public let rawValue: String

    public init(_ text: String) throws(ScalarParseError) {
        if let problem = InterfaceName.problem(with: text) {
            throw ScalarParseError(kind: "interface name", text: text, reason: problem.reason, offset: problem.offset)
        }
        rawValue = text
    }

    /// Why `text` is not a valid interface name, and the character offset of the culprit; nil when it is valid.
    public static func problem(with text: String) -> (reason: String, offset: Int)? {
        if text.isEmpty { return ("an interface name cannot be empty", 0) }
        if text == "." || text == ".." { return ("'.' and '..' are not interface names", 0) }
        if text.utf8.count > maximumLength {
            return ("'\(text)' is \(text.utf8.count) bytes; the kernel allows at most \(maximumLength)", 0)
        }
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            let shown = (0x21...0x7e).contains(scalar.value) ? String(scalar) : scalar.escaped(asASCII: true)
            if scalar == "/" || scalar == ":" || scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value > 0x7e {
                return ("interface names cannot contain '\(shown)'", offset)
            }
            if scalar == "\"" || scalar == "\\" || scalar == "*" {
                return ("interface names cannot contain '\(shown)' (nftables cannot match it literally)", offset)
            }
            if scalar == "@" && offset == 0 {
                return ("an interface name cannot start with '@' (nftables reads '@name' as a set)", offset)
            }
        }
        return nil
    }

    /// Why `text` is not valid as a rule's `iface` outside guest policies: an interface name, or a
    /// prefix wildcard `name*` (nftables' own syntax: every interface whose name starts with `name`).
    public static func patternProblem(with text: String) -> (reason: String, offset: Int)? {
        if text == "*" {
            return ("'*' alone would match every interface; leave iface out to match any interface", 0)
        }
        let scalars = Array(text.unicodeScalars)
        if let star = scalars.firstIndex(of: "*"), star < scalars.count - 1 {
            return ("'*' is a wildcard only at the end of the name (e.g. eth*)", star)
        }
        if scalars.last == "*", text.utf8.count > maximumLength {
            // nft keeps the pattern, '*' included, in an interface name's 16 bytes.
            return ("'\(text)' is \(text.utf8.count) bytes; a wildcard pattern, '*' included, fits in \(maximumLength)", 0)
        }
        // `eth*`: the part before the wildcard follows the interface name rules.
        return problem(with: scalars.last == "*" ? String(String.UnicodeScalarView(scalars.dropLast())) : text)
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Why a domain scalar could not be read from its text form.
public struct ScalarParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was being parsed, for example "MAC address".
    public var kind: String
    public var text: String
    public var reason: String
    /// Offset (in characters) inside `text` where the problem starts, when known.
    public var offset: Int

    public init(kind: String, text: String, reason: String, offset: Int = 0) {
        self.kind = kind
        self.text = text
        self.reason = reason
        self.offset = offset
    }

    public var description: String { reason }
}
