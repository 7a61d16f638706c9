import SDNModel

/// A value that does not fit a datatype's wire form, with what is wrong.
public struct WireValueError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The datatype's wire form: how a ``Value`` becomes the bytes the kernel stores and compares, and
/// back. The netlink encoder writes these bytes; the canonical form reads values back through them.
extension Datatype {
    // MARK: - Encoding

    /// The wire bytes of a single value (not a prefix, range or set), as the kernel stores and
    /// compares them.
    public func wireBytes(_ value: Value) throws(WireValueError) -> [UInt8] {
        switch (representation, value) {
        case (.interfaceName, .string(let name)):
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count < 16, !bytes.contains(0) else {
                throw WireValueError("interface name \"\(name)\" must have 1 to 15 bytes")
            }
            return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
        case (.ipv4Address, .address(.v4(let address))):
            return Self.bigEndian(UInt64(address), length: 4)
        case (.ipv6Address, .address(.v6(let address))):
            return Self.bigEndian(UInt64(truncatingIfNeeded: address >> 64), length: 8)
                + Self.bigEndian(UInt64(truncatingIfNeeded: address), length: 8)
        case (.etherAddress, .ether(let mac)):
            return mac.octets
        case (.number, .integer(let number)):
            return try integer(UInt64(exactly: number), from: value)
        case (_, .symbol(let symbol)):
            guard let number = symbols.value(named: symbol.name) else {
                throw WireValueError("unknown \(self.name) value \"\(symbol.name)\"")
            }
            return try integer(number, from: value)
        case (_, .flags(let names)) where isBitmask:
            var bits: UInt64 = 0
            for name in names {
                guard let bit = symbols.value(named: name) else { throw WireValueError("unknown \(self.name) flag \"\(name)\"") }
                bits |= bit
            }
            return try integer(bits, from: value)
        default:
            throw WireValueError("value \(NFTTextRenderer.render(value: value)) does not fit a \(name) field")
        }
    }

    private func integer(_ number: UInt64?, from value: Value) throws(WireValueError) -> [UInt8] {
        guard let number, length == 8 || number < (UInt64(1) << (8 * length)) else {
            throw WireValueError("value \(NFTTextRenderer.render(value: value)) is out of range for a \(name) field")
        }
        return isHostOrderOnWire ? Self.hostOrder(number, length: length) : Self.bigEndian(number, length: length)
    }

    public static func bigEndian(_ number: UInt64, length: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64(length - 1 - $0))) }
    }

    /// Host byte order (little endian on every platform this runs on).
    public static func hostOrder(_ number: UInt64, length: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) }
    }

    // MARK: - Decoding

    /// The value for wire bytes, as the compiler writes it: names where nft has one, else numbers.
    public func value(wire bytes: [UInt8]) -> Value? {
        guard bytes.count == length else { return nil }
        switch representation {
        case .interfaceName:
            let name = bytes.prefix { $0 != 0 }
            return .string(String(decoding: name, as: UTF8.self))
        case .ipv4Address:
            return .address(.v4(UInt32(truncatingIfNeeded: Self.number(bigEndian: bytes))))
        case .ipv6Address:
            let high = UInt128(Self.number(bigEndian: Array(bytes[0..<8])))
            let low = UInt128(Self.number(bigEndian: Array(bytes[8..<16])))
            return .address(.v6(high << 64 | low))
        case .etherAddress:
            return .ether(MACAddress(octets: bytes))
        case .verdict:
            return nil
        case .number:
            let number = isHostOrderOnWire ? Self.number(hostOrder: bytes) : Self.number(bigEndian: bytes)
            if isBitmask {
                return flagNames(number).map { .flags($0) } ?? .integer(Int(number))
            }
            if let name = symbols.name(of: number) { return .symbol(Symbol(unchecked: name)) }
            return .integer(Int(number))
        }
    }

    public static func number(bigEndian bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public static func number(hostOrder bytes: [UInt8]) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
