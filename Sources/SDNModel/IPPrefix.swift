/// A CIDR prefix such as `10.0.0.0/24` or `fd00::/64`. A bare address is a host prefix (/32 or /128).
///
/// `address` keeps the address as written (so `10.0.0.1/24` can describe a gateway with its subnet);
/// `network` is the address with the host bits cleared.
public struct IPPrefix: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let address: IPAddress
    public let length: Int

    public init(address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.family.bitWidth)
        self.address = address
        self.length = length
    }

    public init(_ text: String) throws(ScalarParseError) {
        guard let slash = text.firstIndex(of: "/") else {
            let address = try IPAddress(text)
            self.init(address: address, length: address.family.bitWidth)
            return
        }
        let address = try IPAddress(String(text[..<slash]))
        let lengthText = text[text.index(after: slash)...]
        guard let length = Int(lengthText), lengthText.allSatisfy(\.isASCIIDigit),
              (0...address.family.bitWidth).contains(length) else {
            throw ScalarParseError(
                kind: "prefix", text: text,
                reason: "'\(lengthText)' is not a prefix length for \(address.family); use 0-\(address.family.bitWidth)",
                offset: text.distance(from: text.startIndex, to: slash) + 1)
        }
        self.init(address: address, length: length)
    }

    public var family: IPAddress.Family { address.family }

    private var hostMask: UInt128 {
        let width = family.bitWidth
        if length == width { return 0 }
        // ::/0 has 128 host bits: shifting a UInt128 by its width would overflow.
        if width - length == 128 { return .max }
        return (UInt128(1) << UInt128(width - length)) - 1
    }

    public var network: IPAddress { IPAddress(family: family, integerValue: address.integerValue & ~hostMask) }
    public var lastAddress: IPAddress { IPAddress(family: family, integerValue: network.integerValue | hostMask) }
    /// The prefix with host bits cleared.
    public var masked: IPPrefix { IPPrefix(address: network, length: length) }
    /// True when the address as written has no host bits set.
    public var isNetworkAddress: Bool { address == network }
    public var isHost: Bool { length == family.bitWidth }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.integerValue & ~hostMask == network.integerValue
    }

    public func contains(_ other: IPPrefix) -> Bool {
        other.family == family && other.length >= length && contains(other.network)
    }

    public func overlaps(_ other: IPPrefix) -> Bool { contains(other) || other.contains(self) }

    public var description: String { "\(address)/\(length)" }
    /// The prefix as a user would write it: a host prefix prints as a bare address.
    public var compactDescription: String { isHost ? address.description : description }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.address, lhs.length) < (rhs.address, rhs.length)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An inclusive range of addresses of one family, written `10.0.0.10-10.0.0.20`.
public struct IPRange: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let first: IPAddress
    public let last: IPAddress

    public init(first: IPAddress, last: IPAddress) throws(ScalarParseError) {
        guard first.family == last.family else {
            throw ScalarParseError(kind: "address range", text: "\(first)-\(last)", reason: "range \(first)-\(last) mixes IPv4 and IPv6")
        }
        guard first <= last else {
            throw ScalarParseError(kind: "address range", text: "\(first)-\(last)", reason: "range \(first)-\(last) ends before it starts; write the lower address first")
        }
        self.first = first
        self.last = last
    }

    public init(_ text: String) throws(ScalarParseError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ScalarParseError(kind: "address range", text: text, reason: "'\(text)' is not an address range; write FIRST-LAST like 10.0.0.100-10.0.0.200")
        }
        let first: IPAddress
        do { first = try IPAddress(String(parts[0])) } catch { throw ScalarParseError(kind: "address range", text: text, reason: error.reason) }
        let last: IPAddress
        do { last = try IPAddress(String(parts[1])) } catch {
            throw ScalarParseError(kind: "address range", text: text, reason: error.reason, offset: parts[0].count + 1)
        }
        try self.init(first: first, last: last)
    }

    public var family: IPAddress.Family { first.family }
    public func contains(_ address: IPAddress) -> Bool { address.family == family && first <= address && address <= last }
    public func overlaps(_ other: IPRange) -> Bool { other.family == family && first <= other.last && other.first <= last }
    public func isInside(_ prefix: IPPrefix) -> Bool { prefix.contains(first) && prefix.contains(last) }

    public var description: String { "\(first)-\(last)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.first, lhs.last) < (rhs.first, rhs.last) }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
