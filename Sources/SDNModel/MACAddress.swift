/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` (also accepted with `-`).
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The 48 bits in the low bits, first octet highest: one word, so sets and maps of thousands of
    /// FDB entries hash and compare without touching the heap.
    public let value: UInt64

    public init(octets: [UInt8]) {
        precondition(octets.count == 6, "a MAC address has 6 octets")
        value = octets.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public var octets: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) } }

    public init(_ text: String) throws(ScalarParseError) {
        let parts = text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else {
            throw ScalarParseError(kind: "MAC address", text: text, reason: "'\(text)' is not a MAC address; write six hex pairs like 52:54:00:12:34:56")
        }
        var octets: [UInt8] = []
        for part in parts {
            guard part.count == 2, let value = UInt8(part, radix: 16) else {
                throw ScalarParseError(kind: "MAC address", text: text, reason: "'\(text)' is not a MAC address; '\(part)' is not a hex pair")
            }
            octets.append(value)
        }
        self.init(octets: octets)
    }

    /// Multicast (group) addresses have the low bit of the first octet set; guests may not use them.
    public var isMulticast: Bool { (value >> 40) & 1 == 1 }
    public var isZero: Bool { value == 0 }

    public var description: String {
        octets.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
