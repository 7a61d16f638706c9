/// A Linux network interface name, checked against the kernel's rules (`dev_valid_name`):
/// 1–15 bytes (IFNAMSIZ - 1), no `/`, `:` or white space, and not `.` or `..`.
public struct InterfaceName: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The kernel's IFNAMSIZ minus the terminating NUL.
    public static let maximumLength = 15

    public let rawValue: String

    public init(_ text: String) throws(ScalarParseError) {
        if let problem = InterfaceName.problem(with: text) {
            throw ScalarParseError(kind: "interface name", text: text, reason: problem)
        }
        rawValue = text
    }

    /// Why `text` is not a valid interface name, or nil when it is.
    public static func problem(with text: String) -> String? {
        if text.isEmpty { return "an interface name cannot be empty" }
        if text == "." || text == ".." { return "'.' and '..' are not interface names" }
        if text.utf8.count > maximumLength {
            return "'\(text)' is \(text.utf8.count) bytes; the kernel allows at most \(maximumLength)"
        }
        if let bad = text.unicodeScalars.first(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value > 0x7e }) {
            return "interface names cannot contain '\(bad.escaped(asASCII: true))'"
        }
        return nil
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
