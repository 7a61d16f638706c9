/// An inclusive range of TCP/UDP/SCTP/DCCP ports, written `80` or `8000-8080` (also `8000:8080`).
public struct PortRange: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let lower: UInt16
    public let upper: UInt16

    public init(_ port: UInt16) { lower = port; upper = port }

    public init(lower: UInt16, upper: UInt16) throws(ScalarParseError) {
        guard lower <= upper else {
            throw ScalarParseError(kind: "port range", text: "\(lower)-\(upper)", reason: "port range \(lower)-\(upper) ends before it starts; write the lower port first")
        }
        self.lower = lower
        self.upper = upper
    }

    public init(_ text: String) throws(ScalarParseError) {
        let separator: Character = text.contains(":") ? ":" : "-"
        let parts = text.split(separator: separator, omittingEmptySubsequences: false)
        func port(_ part: Substring, offset: Int) throws(ScalarParseError) -> UInt16 {
            guard !part.isEmpty, part.allSatisfy(\.isASCIIDigit), let value = Int(part) else {
                throw ScalarParseError(kind: "port", text: text, reason: "'\(part)' is not a port number; use 0-65535", offset: offset)
            }
            guard value <= 65535 else {
                throw ScalarParseError(kind: "port", text: text, reason: "port \(value) is out of range; ports are 0-65535", offset: offset)
            }
            return UInt16(value)
        }
        switch parts.count {
        case 1:
            let value = try port(parts[0], offset: 0)
            self.init(value)
        case 2:
            let low = try port(parts[0], offset: 0)
            let high = try port(parts[1], offset: parts[0].count + 1)
            do { try self.init(lower: low, upper: high) } catch { throw ScalarParseError(kind: "port range", text: text, reason: error.reason) }
        default:
            throw ScalarParseError(kind: "port range", text: text, reason: "'\(text)' is not a port or range; write 443 or 8000-8080")
        }
    }

    public var isSinglePort: Bool { lower == upper }
    public func contains(_ port: UInt16) -> Bool { lower <= port && port <= upper }
    public var description: String { isSinglePort ? "\(lower)" : "\(lower)-\(upper)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.lower, lhs.upper) < (rhs.lower, rhs.upper) }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Parses a comma-separated list such as `80,443,8000-8080`.
    public static func parseList(_ text: String) throws(ScalarParseError) -> [PortRange] {
        var result: [PortRange] = []
        var offset = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            do {
                result.append(try PortRange(String(part)))
            } catch {
                var shifted = error
                shifted.offset += offset
                shifted.text = text
                throw shifted
            }
            offset += part.count + 1
        }
        return result
    }
}

/// An inclusive list of VLAN ids written like `2-4094` or `10,20,100-199`.
public struct VLANSet: Hashable, Sendable, CustomStringConvertible, Codable {
    public let ranges: [ClosedRange<Int>]

    public init(ranges: [ClosedRange<Int>]) { self.ranges = ranges }

    public init(_ text: String) throws(ScalarParseError) {
        var ranges: [ClosedRange<Int>] = []
        var offset = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            let numbers = bounds.compactMap { Int($0.trimmingSpaces) }
            guard (1...2).contains(bounds.count), numbers.count == bounds.count else {
                throw ScalarParseError(kind: "VLAN list", text: text, reason: "'\(part)' is not a VLAN id or range; write 10 or 100-199", offset: offset)
            }
            let low = numbers[0], high = numbers.last!
            guard VLANID.validRange.contains(low), VLANID.validRange.contains(high), low <= high else {
                throw ScalarParseError(kind: "VLAN list", text: text, reason: "'\(part)' is outside 1-4094 or reversed", offset: offset)
            }
            ranges.append(low...high)
            offset += part.count + 1
        }
        self.ranges = ranges
    }

    public func contains(_ vlan: Int) -> Bool { ranges.contains { $0.contains(vlan) } }
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }

    public init(from decoder: any Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result.removeFirst() }
        while result.last == " " { result.removeLast() }
        return result
    }
}
