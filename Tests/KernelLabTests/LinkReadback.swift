import Foundation

/// The parts of `ip -j -d link show` the lab tests read.
struct IPLink: Decodable {
    var ifname: String
    var master: String?
    var link: String?
    var mtu: Int?
    var linkinfo: LinkInfo?

    struct LinkInfo: Decodable {
        var infoKind: String?
        var infoData: InfoData?
        var infoSlaveKind: String?

        enum CodingKeys: String, CodingKey {
            case infoKind = "info_kind", infoData = "info_data", infoSlaveKind = "info_slave_kind"
        }
    }

    /// Kind-specific attributes: bond `mode`, vlan `protocol` and `id`, bridge `vlan_filtering`, vrf `table`.
    struct InfoData: Decodable {
        var mode: String?
        var `protocol`: String?
        var id: Int?
        var vlanFiltering: Int?
        var table: Int?

        enum CodingKeys: String, CodingKey {
            case mode, `protocol`, id, vlanFiltering = "vlan_filtering", table
        }
    }

    var kind: String? { linkinfo?.infoKind }
}

/// One port of `bridge -j vlan show`.
struct BridgeVLANPort: Decodable {
    var ifname: String
    var vlans: [Entry]

    struct Entry: Decodable {
        var vlan: Int
        /// Last VLAN of a range entry, when `bridge` compresses a run of VLANs into one.
        var vlanEnd: Int?
        var flags: [String]?
    }

    /// Every VLAN the port carries, ranges expanded.
    var vids: Set<Int> {
        Set(vlans.flatMap { $0.vlan...($0.vlanEnd ?? $0.vlan) })
    }

    /// The port's PVID, if any.
    var pvid: Int? { vlans.first { $0.flags?.contains("PVID") == true }?.vlan }

    /// The VLANs sent untagged.
    var untagged: Set<Int> {
        Set(vlans.filter { $0.flags?.contains("Egress Untagged") == true }.flatMap { $0.vlan...($0.vlanEnd ?? $0.vlan) })
    }
}

extension Array where Element == IPLink {
    subscript(name: String) -> IPLink? { first { $0.ifname == name } }
}
