/// An IPv4 or IPv6 address. IPv6 text follows RFC 5952 when printed (lower case, longest zero run
/// compressed), and accepts every RFC 4291 form when parsed, including an embedded dotted IPv4 tail.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    case v4(UInt32)
    case v6(UInt128)

    public enum Family: String, Sendable, Hashable, Codable, CustomStringConvertible {
        case ipv4, ipv6
        public var description: String { rawValue }
        public var bitWidth: Int { self == .ipv4 ? 32 : 128 }
    }

    public var family: Family {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// The address as an unsigned integer wide enough for either family.
    public var integerValue: UInt128 {
        switch self {
        case .v4(let value): UInt128(value)
        case .v6(let value): value
        }
    }

    public init(family: Family, integerValue: UInt128) {
        switch family {
        case .ipv4: self = .v4(UInt32(truncatingIfNeeded: integerValue))
        case .ipv6: self = .v6(integerValue)
        }
    }

    public init(_ text: String) throws(ScalarParseError) {
        if text.contains(":") {
            guard let value = IPAddress.parseIPv6(Substring(text)) else {
                throw ScalarParseError(kind: "IPv6 address", text: text, reason: "'\(text)' is not an IPv6 address")
            }
            self = .v6(value)
        } else {
            guard let value = IPAddress.parseIPv4(Substring(text)) else {
                throw ScalarParseError(kind: "IP address", text: text, reason: "'\(text)' is not an IP address; write IPv4 as four numbers 0-255 (10.0.0.1) or IPv6 like fd00::1")
            }
            self = .v4(value)
        }
    }

    static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit),
                  let octet = UInt32(part), octet <= 255,
                  part.count == 1 || part.first != "0" else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: Substring) -> UInt128? {
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var sawCompression = false
        let halves = splitOnDoubleColon(String(text))
        guard halves.count <= 2 else { return nil }
        sawCompression = halves.count == 2

        func parseGroups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4Tail, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                } else {
                    guard (1...4).contains(piece.count), let group = UInt16(piece, radix: 16) else { return nil }
                    result.append(group)
                }
            }
            return result
        }

        if sawCompression {
            guard let head = parseGroups(halves[0], allowIPv4Tail: false),
                  let tail = parseGroups(halves[1], allowIPv4Tail: true) else { return nil }
            groups = head
            tailGroups = tail
            guard groups.count + tailGroups.count <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - groups.count - tailGroups.count) + tailGroups
        } else {
            guard let all = parseGroups(halves[0], allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    /// Splits at each "::" (the zero-run marker), without Foundation.
    private static func splitOnDoubleColon(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if text[index] == ":", next < text.endIndex, text[next] == ":" {
                parts.append(current)
                current = ""
                index = text.index(after: next)
            } else {
                current.append(text[index])
                index = next
            }
        }
        parts.append(current)
        return parts
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
        case .v6(let value):
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> UInt128(112 - 16 * $0)) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on a tie.
            var bestStart = -1, bestLength = 0, runStart = -1
            for index in 0...8 {
                if index < 8 && groups[index] == 0 {
                    if runStart < 0 { runStart = index }
                } else if runStart >= 0 {
                    if index - runStart > bestLength { bestStart = runStart; bestLength = index - runStart }
                    runStart = -1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if bestLength < 2 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v6(let a), .v6(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
