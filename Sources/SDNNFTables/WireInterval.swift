import SDNModel

/// A closed range of keys in wire bytes (big-endian numbers for interval-capable types), as a single
/// value, prefix or range of the IR becomes in an interval set.
public struct WireInterval: Hashable, Sendable {
    public var low: [UInt8]
    public var high: [UInt8]

    public init(low: [UInt8], high: [UInt8]) {
        self.low = low
        self.high = high
    }

    public init(_ value: Value, datatype kind: Datatype) throws(WireValueError) {
        switch value {
        case .prefix(let prefix):
            let network = try kind.wireBytes(.address(prefix.network))
            self.init(low: network, high: try kind.wireBytes(.address(prefix.lastAddress)))
        case .range(let lowValue, let highValue):
            let low = try kind.wireBytes(lowValue), high = try kind.wireBytes(highValue)
            guard kind.isBigEndian else { throw WireValueError("ranges of \(kind.name) values") }
            guard !high.lexicographicallyPrecedes(low) else {
                throw WireValueError("range \(NFTTextRenderer.render(value: value)) ends before it starts")
            }
            self.init(low: low, high: high)
        default:
            let bytes = try kind.wireBytes(value)
            self.init(low: bytes, high: bytes)
        }
    }

    public var isSingle: Bool { low == high }

    /// The IR value for this range: one value, a prefix (addresses on a CIDR boundary), or a range.
    public func value(datatype kind: Datatype) -> Value? {
        guard let lowValue = kind.value(wire: low) else { return nil }
        if isSingle { return lowValue }
        guard let highValue = kind.value(wire: high) else { return nil }
        if case .address(let address) = lowValue, let length = prefixLength {
            return .prefix(IPPrefix(address: address, length: length))
        }
        return .range(lowValue, highValue)
    }

    /// The prefix length when `low…high` is exactly one CIDR block.
    public var prefixLength: Int? {
        guard low.count == high.count else { return nil }
        var bits = 0
        var index = 0
        while index < low.count && low[index] == high[index] { bits += 8; index += 1 }
        guard index < low.count else { return bits }
        let differing = low[index] ^ high[index]
        // The differing bits must be a run of low-order ones: zeros in `low`, ones in `high`.
        let hostBits = 8 - differing.leadingZeroBitCount
        let mask: UInt8 = hostBits == 8 ? 0xff : UInt8((1 << hostBits) - 1)
        guard differing == mask, low[index] & mask == 0 else { return nil }
        guard low[(index + 1)...].allSatisfy({ $0 == 0 }), high[(index + 1)...].allSatisfy({ $0 == 0xff }) else { return nil }
        return bits + (8 - hostBits)
    }
}

extension Array where Element == UInt8 {
    /// The big-endian number plus one, or nil when it overflows (all bytes 0xff).
    public func incremented() -> [UInt8]? {
        var bytes = self
        for index in bytes.indices.reversed() {
            if bytes[index] == 0xff { bytes[index] = 0 } else { bytes[index] += 1; return bytes }
        }
        return nil
    }

    /// The big-endian number minus one, or nil below zero.
    public func decremented() -> [UInt8]? {
        var bytes = self
        for index in bytes.indices.reversed() {
            if bytes[index] == 0 { bytes[index] = 0xff } else { bytes[index] -= 1; return bytes }
        }
        return nil
    }
}
