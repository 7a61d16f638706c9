import SDNModel

/// Proxmox's spellings of protocols, services and ICMP types, translated to ours. pve-firewall reads
/// protocol and service names from the host's `/etc/protocols` and `/etc/services`; the common ones of
/// Debian's files are listed here (anything else can be written as a number).
enum ProxmoxValues {
    /// `/etc/protocols` names that nftables (and `IPProtocolName`) do not know, by number.
    static let extraProtocols: [String: UInt8] = [
        "ggp": 3, "st": 5, "egp": 8, "igp": 9, "pup": 12, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29,
        "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45,
        "rsvp": 46, "skip": 57, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81, "eigrp": 88,
        "ospfigp": 89, "ax.25": 93, "etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "l2tp": 115,
        "isis": 124, "fc": 133, "mobility-header": 135, "mpls-in-ip": 137, "manet": 138, "hip": 139,
        "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
    ]

    static func proto(_ text: String) -> IPProtocolName? {
        if let known = IPProtocolName(text) { return known }
        if let number = extraProtocols[text.lowercased()] { return IPProtocolName("\(number)") }
        return nil
    }

    /// `/etc/services` names Proxmox rules commonly use in `-dport`/`-sport`.
    static let services: [String: UInt16] = [
        "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "time": 37, "domain": 53, "tftp": 69,
        "gopher": 70, "finger": 79, "http": 80, "www": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111, "auth": 113,
        "nntp": 119, "ntp": 123, "epmap": 135, "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139,
        "imap2": 143, "imap": 143, "snmp": 161, "snmp-trap": 162, "bgp": 179, "irc": 194, "ldap": 389,
        "https": 443, "microsoft-ds": 445, "submissions": 465, "isakmp": 500, "syslog": 514, "printer": 515,
        "submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993, "pop3s": 995, "socks": 1080,
        "openvpn": 1194, "ms-sql-s": 1433, "l2f": 1701, "pptp": 1723, "radius": 1812, "nfs": 2049,
        "mysql": 3306, "postgresql": 5432, "amqp": 5672, "x11": 6000, "http-alt": 8080, "webcache": 8080,
        "bootps": 67, "bootpc": 68, "dhcpv6-client": 546, "dhcpv6-server": 547, "ipp": 631, "nut": 3493,
    ]

    /// Parses a Proxmox port list: `80`, `80,443`, `8000:8080`, service names. On failure, the offset of
    /// the bad part and the message.
    struct PortError: Error {
        var offset: Int
        var message: String
    }

    static func ports(_ text: Substring) -> Result<[PortRange], PortError> {
        var result: [PortRange] = []
        var offset = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            if let port = services[part.lowercased()] {
                result.append(PortRange(port))
            } else {
                do { result.append(try PortRange(String(part))) } catch {
                    let message = part.allSatisfy({ $0.isLetter || $0 == "-" }) && !part.isEmpty
                        ? "'\(part)' is not a service name the importer knows"
                        : error.reason
                    return .failure(PortError(offset: offset + error.offset, message: message))
                }
            }
            offset += part.count + 1
        }
        return .success(result)
    }

    /// An ICMP type as iptables names it (pve-firewall passes `-icmp-type` to iptables), or a number,
    /// or `type/code`: our nftables type name, and whether a code was given that we cannot match
    /// (the rule then matches every code of the type).
    struct ICMPTranslation {
        /// nil for `any`.
        var type: String?
        var droppedCode: String?
    }

    static let icmpv4Codes: [String: String] = [
        "network-unreachable": "destination-unreachable", "host-unreachable": "destination-unreachable",
        "protocol-unreachable": "destination-unreachable", "port-unreachable": "destination-unreachable",
        "fragmentation-needed": "destination-unreachable", "source-route-failed": "destination-unreachable",
        "network-unknown": "destination-unreachable", "host-unknown": "destination-unreachable",
        "network-prohibited": "destination-unreachable", "host-prohibited": "destination-unreachable",
        "TOS-network-unreachable": "destination-unreachable", "TOS-host-unreachable": "destination-unreachable",
        "communication-prohibited": "destination-unreachable", "host-precedence-violation": "destination-unreachable",
        "precedence-cutoff": "destination-unreachable", "network-redirect": "redirect", "host-redirect": "redirect",
        "TOS-network-redirect": "redirect", "TOS-host-redirect": "redirect", "ttl-zero-during-transit": "time-exceeded",
        "ttl-zero-during-reassembly": "time-exceeded", "ip-header-bad": "parameter-problem", "required-option-missing": "parameter-problem",
    ]

    static let icmpv4Aliases: [String: String] = ["pong": "echo-reply", "ping": "echo-request", "ttl-exceeded": "time-exceeded"]

    static let icmpv6Names: [String: String] = [
        "router-solicitation": "nd-router-solicit", "router-advertisement": "nd-router-advert",
        "neighbour-solicitation": "nd-neighbor-solicit", "neighbor-solicitation": "nd-neighbor-solicit",
        "neighbour-advertisement": "nd-neighbor-advert", "neighbor-advertisement": "nd-neighbor-advert",
        "redirect": "nd-redirect",
    ]

    static let icmpv6Codes: [String: String] = [
        "no-route": "destination-unreachable", "communication-prohibited": "destination-unreachable",
        "beyond-scope": "destination-unreachable", "address-unreachable": "destination-unreachable",
        "port-unreachable": "destination-unreachable", "failed-policy": "destination-unreachable",
        "reject-route": "destination-unreachable", "ttl-zero-during-transit": "time-exceeded",
        "ttl-zero-during-reassembly": "time-exceeded", "bad-header": "parameter-problem",
        "unknown-header-type": "parameter-problem", "unknown-option": "parameter-problem",
    ]

    static func icmpType(_ text: String, proto: IPProtocolName) -> ICMPTranslation? {
        if text.lowercased() == "any" { return ICMPTranslation(type: nil) }
        if let slash = text.firstIndex(of: "/") {
            let type = String(text[..<slash])
            guard UInt8(type) != nil, UInt8(text[text.index(after: slash)...]) != nil else { return nil }
            return ICMPTranslation(type: type, droppedCode: String(text[text.index(after: slash)...]))
        }
        if UInt8(text) != nil { return ICMPTranslation(type: text) }
        if proto == .icmpv6 {
            if let name = icmpv6Names[text] { return ICMPTranslation(type: name) }
            if let type = icmpv6Codes[text] { return ICMPTranslation(type: type, droppedCode: text) }
            if ICMPType.ipv6[text] != nil { return ICMPTranslation(type: text) }
            return nil
        }
        if let name = icmpv4Aliases[text] { return ICMPTranslation(type: name) }
        if let type = icmpv4Codes[text] { return ICMPTranslation(type: type, droppedCode: text) }
        if ICMPType.ipv4[text] != nil { return ICMPTranslation(type: text) }
        return nil
    }

    /// Proxmox booleans in config files: `0`/`1` (section config and guest configs also take yes/no,
    /// on/off, true/false).
    static func bool(_ text: Substring) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "on", "true": true
        case "0", "no", "off", "false": false
        default: nil
        }
    }

    static func logLevel(_ text: Substring) -> LogLevel? {
        // An empty level is Proxmox's way to write "no logging".
        text.isEmpty ? .nolog : LogLevel(rawValue: text.lowercased())
    }

    static func policy(_ text: Substring) -> DefaultPolicy? {
        DefaultPolicy(rawValue: text.lowercased())
    }

    /// An address or CIDR as Proxmox writes it (`10.0.0.1`, `10.0.0.0/24`, `fd00::1/64`).
    static func prefix(_ text: Substring) -> IPPrefix? { try? IPPrefix(String(text)) }
}

/// "Did you mean …?" for a near miss, else the list of what is allowed.
func suggest(_ word: String, in candidates: [String], listing: String) -> String {
    Suggestion.hint(for: word, in: candidates) ?? listing
}
