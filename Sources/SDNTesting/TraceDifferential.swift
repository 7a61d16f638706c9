import Foundation
public import SDNModel
public import SDNNFTables

/// One test frame for the kernel-vs-interpreter trace tests: the header fields, from which both the
/// bytes put on the wire and the ``Packet`` the interpreter evaluates are built, so the two cannot
/// describe different packets.
///
/// Every frame carries a key (the IPv4 `id` or the IPv6 flow label) that `nft monitor trace` prints,
/// which ties the kernel's trace lines back to the frame.
public struct ProbeFrame: Sendable, CustomStringConvertible {
    public var key: UInt16
    public var etherSource: MACAddress
    public var etherDestination: MACAddress
    public var saddr: IPAddress
    public var daddr: IPAddress
    /// The IP protocol number (or IPv6 next header).
    public var proto: UInt8
    public var sport: UInt16 = 0
    public var dport: UInt16 = 0
    public var tcpFlags: Packet.TCPFlags = []
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    /// ICMP bytes after type, code and checksum (identifier and sequence, or an embedded packet).
    public var icmpBody: [UInt8] = [0, 0, 0, 0]

    public init(key: UInt16, etherSource: MACAddress, etherDestination: MACAddress, saddr: IPAddress, daddr: IPAddress, proto: UInt8) {
        self.key = key
        self.etherSource = etherSource
        self.etherDestination = etherDestination
        self.saddr = saddr
        self.daddr = daddr
        self.proto = proto
    }

    var isIPv6: Bool { saddr.family == .ipv6 }
    var isICMP: Bool { proto == (isIPv6 ? 58 : 1) }
    var hasPorts: Bool { IPProtocolName("\(proto)")!.hasPorts }

    /// The packet as the interpreter sees it, with conntrack's state (which the kernel decides from
    /// the frames before it) and the interface it arrives on.
    public func packet(iifname: String, ctState: Packet.ConnectionState) -> Packet {
        Packet(
            iifname: iifname, etherSource: etherSource, etherDestination: etherDestination, saddr: saddr, daddr: daddr,
            l4proto: IPProtocolName("\(proto)"), sport: hasPorts ? sport : nil, dport: hasPorts ? dport : nil,
            icmpType: isICMP ? icmpType : nil, icmpCode: isICMP ? icmpCode : nil, tcpFlags: proto == 6 ? tcpFlags : [],
            ctState: ctState
        )
    }

    /// The transport header and payload, with its checksum where the protocol has one conntrack checks.
    public var transport: [UInt8] {
        switch proto {
        case 6:
            var tcp = Self.be16(sport) + Self.be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0] + [0x50, tcpFlags.rawValue] + Self.be16(64240) + [0, 0, 0, 0]
            Self.store(Self.checksum(pseudoHeader(length: tcp.count) + tcp), in: &tcp, at: 16)
            return tcp
        case 17:
            var udp = Self.be16(sport) + Self.be16(dport) + Self.be16(16) + [0, 0] + Array("sdnprobe".utf8)
            let sum = Self.checksum(pseudoHeader(length: udp.count) + udp)
            Self.store(sum == 0 ? 0xffff : sum, in: &udp, at: 6)
            return udp
        case 1 where isICMP, 58 where isICMP:
            var icmp = [icmpType, icmpCode, 0, 0] + icmpBody
            Self.store(Self.checksum((isIPv6 ? pseudoHeader(length: icmp.count) : []) + icmp), in: &icmp, at: 2)
            return icmp
        default:
            // Ports first, as UDP-Lite, SCTP and DCCP have them; conntrack tracks these generically.
            return Self.be16(sport) + Self.be16(dport) + [UInt8](repeating: 0, count: 12)
        }
    }

    private func pseudoHeader(length: Int) -> [UInt8] {
        if isIPv6 {
            return saddr.bytes + daddr.bytes + [0, 0] + Self.be16(UInt16(length)) + [0, 0, 0, proto]
        }
        return saddr.bytes + daddr.bytes + [0, proto] + Self.be16(UInt16(length))
    }

    /// The Ethernet frame.
    public var bytes: [UInt8] {
        let payload = transport
        var frame = etherDestination.octets + etherSource.octets
        if isIPv6 {
            // Version 6, flow label = key.
            frame += [0x86, 0xdd, 0x60, 0, UInt8(key >> 8), UInt8(key & 0xff)] + Self.be16(UInt16(payload.count)) + [proto, 64]
            frame += saddr.bytes + daddr.bytes
        } else {
            var header: [UInt8] = [0x45, 0] + Self.be16(UInt16(20 + payload.count)) + Self.be16(key) + [0x40, 0, 64, proto, 0, 0]
            header += saddr.bytes + daddr.bytes
            Self.store(Self.checksum(header), in: &header, at: 10)
            frame += [0x08, 0x00] + header
        }
        return frame + payload
    }

    public var description: String {
        let protocolName = Datatype.inetProtocol.symbols.name(of: UInt64(proto)) ?? "proto \(proto)"
        var text = "#\(key) \(protocolName) \(saddr)"
        if hasPorts { text += ":\(sport)" }
        text += " > \(daddr)"
        if hasPorts { text += ":\(dport)" }
        if isICMP { text += " type \(icmpType)/\(icmpCode)" }
        if proto == 6 { text += " [\(tcpFlags)]" }
        if etherDestination.octets.first.map({ $0 & 1 == 1 }) ?? false { text += " to \(etherDestination)" }
        return text
    }

    public static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    static func store(_ value: UInt16, in bytes: inout [UInt8], at offset: Int) {
        bytes[offset] = UInt8(value >> 8)
        bytes[offset + 1] = UInt8(value & 0xff)
    }

    /// The Internet checksum (RFC 1071).
    public static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

extension IPAddress {
    /// The address in network byte order (4 or 16 bytes).
    public var bytes: [UInt8] {
        let count = family == .ipv4 ? 4 : 16
        return (0..<count).map { UInt8(truncatingIfNeeded: integerValue >> UInt128(8 * (count - 1 - $0))) }
    }
}

/// The kernel's path of each packet through one table, read from `nft monitor trace` output.
public struct NFTTraceLog: Sendable {
    /// What happened in the table to the packet with a key: `CHAIN RULE-ID VERDICT` for every rule that
    /// matched (`continue` when it had no verdict), and `CHAIN policy VERDICT` where a base chain ended.
    public var paths: [UInt16: [String]] = [:]
    /// Comments of the rules that matched in other tables (the setup chains that tell conntrack's state).
    public var otherRules: [UInt16: [String]] = [:]

    /// Parses the monitor's lines; packets are recognised by their `ip id` or `ip6 flowlabel`.
    public init(_ output: String, table: String) {
        var current: [String: UInt16] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            // trace id ID FAMILY TABLE CHAIN (packet: … | rule … | policy VERDICT)
            guard words.count > 6, words[0] == "trace", words[1] == "id" else { continue }
            let traceID = words[2], tableName = words[4], chain = words[5]
            if words[6] == "packet:" {
                for (index, word) in words.enumerated() where (word == "id" && words[index - 1] == "ip") || word == "flowlabel" {
                    if index + 1 < words.count, let key = UInt16(words[index + 1]) { current[traceID] = key }
                }
                continue
            }
            guard let key = current[traceID] else { continue }
            var event: String
            if words[6] == "policy" {
                event = "\(chain) policy \(words[7])"
            } else if words[6] == "rule" {
                let text = line.split(separator: " rule ", maxSplits: 1).last.map(String.init) ?? ""
                let comment = text.range(of: "comment \"").map { String(text[$0.upperBound...].prefix { $0 != "\"" }) } ?? "?"
                let verdict = text.range(of: "(verdict ", options: .backwards).map { String(text[$0.upperBound...].prefix { $0 != ")" }) } ?? "?"
                if tableName != table {
                    otherRules[key, default: []].append(comment)
                    continue
                }
                event = "\(chain) \(comment) \(verdict)"
            } else {
                event = "\(chain) \(words[6...].joined(separator: " "))"
            }
            if tableName == table { paths[key, default: []].append(event) }
        }
    }

    /// The interpreter's path in the same words: matched rules with their action (`continue` for none),
    /// and policies; ends of jumped-to chains are silent in the kernel's trace, so they are left out.
    public static func path(of trace: Trace) -> [String] {
        trace.steps.compactMap { step in
            switch step.kind {
            case .rule where step.matched:
                let action: String = switch step.action {
                case nil: "continue"
                // The kernel traces `reject` as the drop it is.
                case .reject: "drop"
                case .nat: "accept"
                case .verdict(let verdict): NFTTextRenderer.render(verdict: verdict)
                }
                return "\(step.chain) \(step.ruleID ?? "?") \(action)"
            case .policy: return "\(step.chain) \(step.text)"
            default: return nil
            }
        }
    }
}
