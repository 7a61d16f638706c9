/// What one kind of bounded integer is called and which values it takes.
public protocol IntegerBounds: Sendable {
    /// The valid values.
    static var range: ClosedRange<Int> { get }
    /// Its name in messages: `VLAN id`.
    static var kind: String { get }
    /// The name with its article: `a VLAN id`.
    static var kindWithArticle: String { get }
}

/// An integer that is valid only within `Bounds.range`, written and read as a plain number. One type for
/// every such scalar of the model, so they parse, print and complain alike.
public struct BoundedInteger<Bounds: IntegerBounds>: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public static var validRange: ClosedRange<Int> { Bounds.range }
    public let value: Int

    public init(_ value: Int) throws(ScalarParseError) {
        guard Bounds.range.contains(value) else {
            throw ScalarParseError(kind: Bounds.kind, text: "\(value)", reason: "\(Bounds.kind) \(value) is out of range; use \(Self.rangeText)")
        }
        self.value = value
    }

    public init(_ text: String) throws(ScalarParseError) {
        guard let value = Int(text), text.allSatisfy(\.isASCIIDigit) else {
            throw ScalarParseError(kind: Bounds.kind, text: text, reason: "'\(text)' is not \(Bounds.kindWithArticle); use a number \(Self.rangeText)")
        }
        try self.init(value)
    }

    static var rangeText: String { "\(Bounds.range.lowerBound)-\(Bounds.range.upperBound)" }

    public var description: String { "\(value)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws { try self.init(try decoder.singleValueContainer().decode(Int.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// An 802.1Q VLAN id, 1–4094 (0 and 4095 are reserved).
public typealias VLANID = BoundedInteger<VLANIDBounds>
public enum VLANIDBounds: IntegerBounds {
    public static let range = 1...4094
    public static let kind = "VLAN id"
    public static let kindWithArticle = "a VLAN id"
}

/// A VXLAN network identifier, 1–16777215 (24 bits; 0 is reserved here).
public typealias VNI = BoundedInteger<VNIBounds>
public enum VNIBounds: IntegerBounds {
    public static let range = 1...16_777_215
    public static let kind = "VNI"
    public static let kindWithArticle = "a VNI"
}

/// A link MTU. The kernel's Ethernet minimum is 68 (IPv4); jumbo frames go to 65535 on virtual links.
public typealias MTU = BoundedInteger<MTUBounds>
public enum MTUBounds: IntegerBounds {
    public static let range = 68...65535
    public static let kind = "MTU"
    public static let kindWithArticle = "an MTU"
}

extension BoundedInteger where Bounds == MTUBounds {
    public static var ethernetDefault: MTU { try! MTU(1500) }
}
