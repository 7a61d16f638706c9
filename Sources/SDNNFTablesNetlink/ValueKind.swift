import SDNModel
import SDNNFTables

/// The type of a matched field or set key: how a ``Value`` becomes bytes on the wire and back, with
/// nft's datatype number, length and byte order (which sets carry in their key type and userdata).
enum ValueKind: Hashable, Sendable {
    case interfaceName, inetProtocol, nfProtocol, etherType, packetType, interfaceType
    case ipv4Address, ipv6Address, inetService, icmpType, icmpv6Type, etherAddress, arpOperation
    case ctState, tcpFlags, mark, verdict

    /// nft's `enum datatypes` number.
    var typeID: UInt32 {
        switch self {
        case .verdict: 1
        case .nfProtocol: 2
        case .ipv4Address: 7
        case .ipv6Address: 8
        case .etherAddress: 9
        case .etherType: 10
        case .arpOperation: 11
        case .inetProtocol: 12
        case .inetService: 13
        case .icmpType: 14
        case .tcpFlags: 15
        case .mark: 19
        case .interfaceType: 21
        case .ctState: 26
        case .icmpv6Type: 29
        case .packetType: 31
        case .interfaceName: 41
        }
    }

    /// Bytes on the wire.
    var length: Int {
        switch self {
        case .verdict: 0
        case .nfProtocol, .inetProtocol, .icmpType, .icmpv6Type, .packetType, .tcpFlags: 1
        case .etherType, .arpOperation, .inetService, .interfaceType: 2
        case .ipv4Address, .mark, .ctState: 4
        case .etherAddress: 6
        case .ipv6Address, .interfaceName: 16
        }
    }

    /// The datatype's byte order as nft stores it in a named set's userdata (`enum byteorder`:
    /// 0 invalid, 1 host, 2 big endian). Without it `nft list` prints ifname keys as `""`. nft 1.0.6
    /// records `ether_type` keys as big endian (checked against `nft -f` by the raw set differential
    /// test), which is also how they travel.
    var datatypeByteOrder: UInt32 {
        switch self {
        case .verdict, .inetProtocol: 0
        case .nfProtocol, .packetType, .interfaceName, .mark, .ctState, .interfaceType: 1
        case .ipv4Address, .ipv6Address, .etherAddress, .etherType, .arpOperation, .inetService, .icmpType, .icmpv6Type, .tcpFlags: 2
        }
    }

    /// Whether the wire bytes are a host-order number (the datatype byte order above is what nft
    /// records for set keys).
    var isHostOrderOnWire: Bool { datatypeByteOrder == 1 }

    /// Whether values are bit sets (`ct state established,related`, `tcp flags syn,ack`).
    var isBitmask: Bool { self == .ctState || self == .tcpFlags }

    /// Whether the bytes are a number in network byte order (ranges and interval ends compare that way).
    var isBigEndian: Bool { !isHostOrderOnWire && length > 0 }

    init?(setKeyType: SetKeyType) {
        switch setKeyType {
        case .ipv4Address: self = .ipv4Address
        case .ipv6Address: self = .ipv6Address
        case .etherAddress: self = .etherAddress
        case .interfaceName: self = .interfaceName
        case .inetProtocol: self = .inetProtocol
        case .inetService: self = .inetService
        case .icmpv6Type: self = .icmpv6Type
        case .etherType: self = .etherType
        case .mark: self = .mark
        case .verdict: self = .verdict
        }
    }

    var setKeyType: SetKeyType? {
        switch self {
        case .ipv4Address: .ipv4Address
        case .ipv6Address: .ipv6Address
        case .etherAddress: .etherAddress
        case .interfaceName: .interfaceName
        case .inetProtocol: .inetProtocol
        case .inetService: .inetService
        case .icmpv6Type: .icmpv6Type
        case .etherType: .etherType
        case .mark: .mark
        case .verdict: .verdict
        default: nil
        }
    }

    var name: String {
        switch self {
        case .interfaceName: "ifname"
        case .inetProtocol: "inet_proto"
        case .nfProtocol: "nf_proto"
        case .etherType: "ether_type"
        case .packetType: "pkt_type"
        case .interfaceType: "iface_type"
        case .ipv4Address: "ipv4_addr"
        case .ipv6Address: "ipv6_addr"
        case .inetService: "inet_service"
        case .icmpType: "icmp_type"
        case .icmpv6Type: "icmpv6_type"
        case .etherAddress: "ether_addr"
        case .arpOperation: "arp_op"
        case .ctState: "ct_state"
        case .tcpFlags: "tcp_flag"
        case .mark: "mark"
        case .verdict: "verdict"
        }
    }

    private var symbols: NFTSymbols.Table? {
        switch self {
        case .inetProtocol: NFTSymbols.ipProtocols
        case .nfProtocol: NFTSymbols.nfProtocols
        case .etherType: NFTSymbols.etherTypes
        case .packetType: NFTSymbols.packetTypes
        case .interfaceType: NFTSymbols.interfaceTypes
        case .icmpType: NFTSymbols.icmpTypes
        case .icmpv6Type: NFTSymbols.icmpv6Types
        case .arpOperation: NFTSymbols.arpOperations
        case .ctState: NFTSymbols.ctStates
        case .tcpFlags: NFTSymbols.tcpFlags
        default: nil
        }
    }

    // MARK: - Encoding

    /// The wire bytes of a single value (not a prefix, range or set).
    func encode(_ value: Value) throws(NFTNetlinkError) -> [UInt8] {
        switch (self, value) {
        case (.interfaceName, .string(let name)):
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count < 16, !bytes.contains(0) else {
                throw .unsupported("interface name \"\(name)\" must have 1 to 15 bytes")
            }
            return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
        case (.ipv4Address, .address(.v4(let address))):
            return Self.bigEndian(UInt64(address), length: 4)
        case (.ipv6Address, .address(.v6(let address))):
            return Self.bigEndian(UInt64(truncatingIfNeeded: address >> 64), length: 8)
                + Self.bigEndian(UInt64(truncatingIfNeeded: address), length: 8)
        case (.etherAddress, .ether(let mac)):
            return mac.octets
        case (_, .integer(let number)) where self != .interfaceName && self != .verdict && !isAddress:
            return try integer(UInt64(exactly: number), from: value)
        case (_, .symbol(let name)):
            guard let symbols, let number = symbols.values[name] else {
                throw .unsupported("unknown \(self.name) value \"\(name)\"")
            }
            return try integer(number, from: value)
        case (_, .flags(let names)) where isBitmask:
            var bits: UInt64 = 0
            for name in names {
                guard let bit = symbols?.values[name] else { throw .unsupported("unknown \(self.name) flag \"\(name)\"") }
                bits |= bit
            }
            return try integer(bits, from: value)
        default:
            throw .unsupported("value \(NFTTextRenderer.render(value: value)) does not fit a \(name) field")
        }
    }

    private var isAddress: Bool { self == .ipv4Address || self == .ipv6Address || self == .etherAddress }

    private func integer(_ number: UInt64?, from value: Value) throws(NFTNetlinkError) -> [UInt8] {
        guard let number, length == 8 || number < (UInt64(1) << (8 * length)) else {
            throw .unsupported("value \(NFTTextRenderer.render(value: value)) is out of range for a \(name) field")
        }
        return isHostOrderOnWire ? Self.hostOrder(number, length: length) : Self.bigEndian(number, length: length)
    }

    static func bigEndian(_ number: UInt64, length: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64(length - 1 - $0))) }
    }

    /// Host byte order (little endian on every platform this runs on).
    static func hostOrder(_ number: UInt64, length: Int) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) }
    }

    // MARK: - Decoding

    /// The value for wire bytes, as the compiler writes it: names where nft has one, else numbers.
    func decode(_ bytes: [UInt8]) -> Value? {
        guard bytes.count == length else { return nil }
        switch self {
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
        default:
            let number = isHostOrderOnWire ? Self.number(hostOrder: bytes) : Self.number(bigEndian: bytes)
            if isBitmask {
                guard let symbols else { return .integer(Int(number)) }
                let names = symbols.names.keys.sorted().filter { number & $0 != 0 }.compactMap { symbols.names[$0] }
                let covered = names.reduce(UInt64(0)) { $0 | (symbols.values[$1] ?? 0) }
                if number == 0 || covered != number { return .integer(Int(number)) }
                return .flags(names)
            }
            // Protocols 4 and 94 come back as numbers: nft calls them `ipencap` and `ipip` (Debian's
            // /etc/protocols), while SDNModel's `ipip` is 4, so a name would mean different things.
            if self == .inetProtocol && (number == 4 || number == 94) { return .integer(Int(number)) }
            if let name = symbols?.names[number] { return .symbol(name) }
            return .integer(Int(number))
        }
    }

    static func number(bigEndian bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func number(hostOrder bytes: [UInt8]) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
