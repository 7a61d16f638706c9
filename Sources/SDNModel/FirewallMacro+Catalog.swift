extension FirewallMacro {
    /// Proxmox VE's firewall service macros, transcribed from `pve-firewall`'s `src/PVE/Firewall.pm`
    /// (`$pve_fw_macros`, plus the IPv6 overrides in `$pve_ipv6fw_macros`). Descriptions are Proxmox's
    /// own wording, typos included, so `sdn` and the Proxmox GUI describe a macro the same way.
    ///
    /// Conversion notes:
    /// - Proxmox writes port ranges `6881:6889` and lists `135,139,445`; both become `PortRange` lists.
    /// - Where Proxmox names an IP protocol by number (`47`, `50`, `51`, `41`, `89`, `94`), the number is
    ///   kept. Note that Proxmox's `IPIP` macro is protocol 94 (IANA "IPIP"), not 4 (nftables `ipip`).
    /// - ICMP types appear in Proxmox as `dport`; here they are `icmpType`, with ICMPv6 types spelled as
    ///   nftables spells them (`nd-router-solicit`, ...).
    /// - Proxmox expands `Ping` and `Trcrt` with `icmp` for IPv4 rules and `icmpv6` for IPv6 rules; both
    ///   entries are listed here, since an nftables `inet` rule matching `icmp` only sees IPv4 and one
    ///   matching `icmpv6` only sees IPv6.
    /// - `NeighborDiscovery` and `DHCPv6` exist only in Proxmox's IPv6 macro set.
    /// - Every Proxmox macro entry uses the rule's own action (`PARAM`); none swap source and destination.
    public static let catalog: [FirewallMacro] = [
        FirewallMacro(name: "Amanda", description: "Amanda Backup", entries: [
            Entry(proto: "udp", dport: [PortRange(10080)]),
            Entry(proto: "tcp", dport: [PortRange(10080)]),
        ]),
        FirewallMacro(name: "Auth", description: "Auth (identd) traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(113)]),
        ]),
        FirewallMacro(name: "BGP", description: "Border Gateway Protocol traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(179)]),
        ]),
        FirewallMacro(name: "BitTorrent", description: "BitTorrent traffic for BitTorrent 3.1 and earlier", entries: [
            Entry(proto: "tcp", dport: ports("6881:6889")),
            Entry(proto: "udp", dport: [PortRange(6881)]),
        ]),
        FirewallMacro(name: "BitTorrent32", description: "BitTorrent traffic for BitTorrent 3.2 and later", entries: [
            Entry(proto: "tcp", dport: ports("6881:6999")),
            Entry(proto: "udp", dport: [PortRange(6881)]),
        ]),
        FirewallMacro(name: "Ceph", description: "Ceph Storage Cluster traffic (Ceph Monitors, OSD & MDS Daemons)", entries: [
            Entry(proto: "tcp", dport: [PortRange(6789)]),  // legacy port for messenger protocol v1
            Entry(proto: "tcp", dport: [PortRange(3300)]),  // messenger protocol v2
            Entry(proto: "tcp", dport: ports("6800:7300")),
        ]),
        FirewallMacro(name: "Citrix", description: "Citrix/ICA traffic (ICA, ICA Browser, CGP)", entries: [
            Entry(proto: "tcp", dport: [PortRange(1494)]),
            Entry(proto: "udp", dport: [PortRange(1604)]),
            Entry(proto: "tcp", dport: [PortRange(2598)]),
        ]),
        FirewallMacro(name: "CVS", description: "Concurrent Versions System pserver traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(2401)]),
        ]),
        FirewallMacro(name: "DAAP", description: "Digital Audio Access Protocol traffic (iTunes, Rythmbox daemons)", entries: [
            Entry(proto: "tcp", dport: [PortRange(3689)]),
            Entry(proto: "udp", dport: [PortRange(3689)]),
        ]),
        FirewallMacro(name: "DCC", description: "Distributed Checksum Clearinghouse spam filtering mechanism", entries: [
            Entry(proto: "tcp", dport: [PortRange(6277)]),
        ]),
        FirewallMacro(name: "DHCPfwd", description: "Forwarded DHCP traffic", entries: [
            Entry(proto: "udp", dport: ports("67:68"), sport: ports("67:68")),
        ]),
        // IPv6-only in Proxmox.
        FirewallMacro(name: "DHCPv6", description: "DHCPv6 traffic", entries: [
            Entry(proto: "udp", dport: ports("546:547"), sport: ports("546:547")),
        ]),
        FirewallMacro(name: "Distcc", description: "Distributed Compiler service", entries: [
            Entry(proto: "tcp", dport: [PortRange(3632)]),
        ]),
        FirewallMacro(name: "DNS", description: "Domain Name System traffic (upd and tcp)", entries: [
            Entry(proto: "udp", dport: [PortRange(53)]),
            Entry(proto: "tcp", dport: [PortRange(53)]),
        ]),
        FirewallMacro(name: "Finger", description: "Finger protocol (RFC 742)", entries: [
            Entry(proto: "tcp", dport: [PortRange(79)]),
        ]),
        FirewallMacro(name: "FTP", description: "File Transfer Protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(21)]),
        ]),
        FirewallMacro(name: "Git", description: "Git distributed revision control traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(9418)]),
        ]),
        FirewallMacro(name: "GNUnet", description: "GNUnet secure peer-to-peer networking traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(2086)]),
            Entry(proto: "udp", dport: [PortRange(2086)]),
            Entry(proto: "tcp", dport: [PortRange(1080)]),
            Entry(proto: "udp", dport: [PortRange(1080)]),
        ]),
        FirewallMacro(name: "GRE", description: "Generic Routing Encapsulation tunneling protocol", entries: [
            Entry(proto: "47"),  // gre
        ]),
        FirewallMacro(name: "HKP", description: "OpenPGP HTTP key server protocol traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(11371)]),
        ]),
        FirewallMacro(name: "HTTP", description: "Hypertext Transfer Protocol (WWW)", entries: [
            Entry(proto: "tcp", dport: [PortRange(80)]),
        ]),
        FirewallMacro(name: "HTTPS", description: "Hypertext Transfer Protocol (WWW) over SSL", entries: [
            Entry(proto: "tcp", dport: [PortRange(443)]),
        ]),
        FirewallMacro(name: "ICPV2", description: "Internet Cache Protocol V2 (Squid) traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(3130)]),
        ]),
        FirewallMacro(name: "ICQ", description: "AOL Instant Messenger traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(5190)]),
        ]),
        FirewallMacro(name: "IMAP", description: "Internet Message Access Protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(143)]),
        ]),
        FirewallMacro(name: "IMAPS", description: "Internet Message Access Protocol over SSL", entries: [
            Entry(proto: "tcp", dport: [PortRange(993)]),
        ]),
        FirewallMacro(name: "IPIP", description: "IPIP capsulation traffic", entries: [
            Entry(proto: "94"),  // IANA "IPIP"; not 4 (nftables' "ipip", IP-in-IP), as Proxmox has it
        ]),
        FirewallMacro(name: "IPsec", description: "IPsec traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(500)], sport: [PortRange(500)]),
            Entry(proto: "50"),  // esp
        ]),
        FirewallMacro(name: "IPsecah", description: "IPsec authentication (AH) traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(500)], sport: [PortRange(500)]),
            Entry(proto: "51"),  // ah
        ]),
        FirewallMacro(name: "IPsecnat", description: "IPsec traffic and Nat-Traversal", entries: [
            Entry(proto: "udp", dport: [PortRange(500)]),
            Entry(proto: "udp", dport: [PortRange(4500)]),
            Entry(proto: "50"),  // esp
        ]),
        FirewallMacro(name: "IRC", description: "Internet Relay Chat traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(6667)]),
        ]),
        FirewallMacro(name: "Jetdirect", description: "HP Jetdirect printing", entries: [
            Entry(proto: "tcp", dport: [PortRange(9100)]),
        ]),
        FirewallMacro(name: "L2TP", description: "Layer 2 Tunneling Protocol traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(1701)]),
        ]),
        FirewallMacro(name: "LDAP", description: "Lightweight Directory Access Protocol traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(389)]),
        ]),
        FirewallMacro(name: "LDAPS", description: "Secure Lightweight Directory Access Protocol traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(636)]),
        ]),
        FirewallMacro(name: "Mail", description: "Mail traffic (SMTP, SMTPS, Submission)", entries: [
            Entry(proto: "tcp", dport: [PortRange(25)]),
            Entry(proto: "tcp", dport: [PortRange(465)]),
            Entry(proto: "tcp", dport: [PortRange(587)]),
        ]),
        FirewallMacro(name: "MDNS", description: "Multicast DNS", entries: [
            Entry(proto: "udp", dport: [PortRange(5353)]),
        ]),
        FirewallMacro(name: "MSNP", description: "Microsoft Notification Protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(1863)]),
        ]),
        FirewallMacro(name: "MSSQL", description: "Microsoft SQL Server", entries: [
            Entry(proto: "tcp", dport: [PortRange(1433)]),
        ]),
        FirewallMacro(name: "Munin", description: "Munin networked resource monitoring traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(4949)]),
        ]),
        FirewallMacro(name: "MySQL", description: "MySQL server", entries: [
            Entry(proto: "tcp", dport: [PortRange(3306)]),
        ]),
        // IPv6-only in Proxmox (router-solicitation, router-advertisement, neighbor-solicitation,
        // neighbor-advertisement there).
        FirewallMacro(name: "NeighborDiscovery", description: "IPv6 neighbor solicitation, neighbor and router advertisement", entries: [
            Entry(proto: "icmpv6", icmpType: "nd-router-solicit"),
            Entry(proto: "icmpv6", icmpType: "nd-router-advert"),
            Entry(proto: "icmpv6", icmpType: "nd-neighbor-solicit"),
            Entry(proto: "icmpv6", icmpType: "nd-neighbor-advert"),
        ]),
        FirewallMacro(name: "NNTP", description: "NNTP traffic (Usenet).", entries: [
            Entry(proto: "tcp", dport: [PortRange(119)]),
        ]),
        FirewallMacro(name: "NNTPS", description: "Encrypted NNTP traffic (Usenet)", entries: [
            Entry(proto: "tcp", dport: [PortRange(563)]),
        ]),
        FirewallMacro(name: "NTP", description: "Network Time Protocol (ntpd)", entries: [
            Entry(proto: "udp", dport: [PortRange(123)]),
        ]),
        FirewallMacro(name: "OpenVPN", description: "OpenVPN traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(1194)]),
        ]),
        FirewallMacro(name: "OSPF", description: "OSPF multicast traffic", entries: [
            Entry(proto: "89"),  // ospf
        ]),
        FirewallMacro(name: "PCA", description: "Symantec PCAnywere (tm)", entries: [
            Entry(proto: "udp", dport: [PortRange(5632)]),
            Entry(proto: "tcp", dport: [PortRange(5631)]),
        ]),
        FirewallMacro(name: "Ping", description: "ICMP echo request", entries: [
            Entry(proto: "icmp", icmpType: "echo-request"),
            Entry(proto: "icmpv6", icmpType: "echo-request"),  // Proxmox's IPv6 override
        ]),
        FirewallMacro(name: "PMG", description: "Proxmox Mail Gateway web interface", entries: [
            Entry(proto: "tcp", dport: [PortRange(8006)]),
        ]),
        FirewallMacro(name: "POP3", description: "POP3 traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(110)]),
        ]),
        FirewallMacro(name: "POP3S", description: "Encrypted POP3 traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(995)]),
        ]),
        FirewallMacro(name: "PostgreSQL", description: "PostgreSQL server", entries: [
            Entry(proto: "tcp", dport: [PortRange(5432)]),
        ]),
        FirewallMacro(name: "PPtP", description: "Point-to-Point Tunneling Protocol", entries: [
            Entry(proto: "47"),  // gre
            Entry(proto: "tcp", dport: [PortRange(1723)]),
        ]),
        FirewallMacro(name: "Printer", description: "Line Printer protocol printing", entries: [
            Entry(proto: "tcp", dport: [PortRange(515)]),
        ]),
        FirewallMacro(name: "Razor", description: "Razor Antispam System", entries: [
            Entry(proto: "tcp", dport: [PortRange(2703)]),
        ]),
        FirewallMacro(name: "Rdate", description: "Remote time retrieval (rdate)", entries: [
            Entry(proto: "tcp", dport: [PortRange(37)]),
        ]),
        FirewallMacro(name: "RDP", description: "Microsoft Remote Desktop Protocol traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(3389)]),
        ]),
        FirewallMacro(name: "RIP", description: "Routing Information Protocol (bidirectional)", entries: [
            Entry(proto: "udp", dport: [PortRange(520)]),
        ]),
        FirewallMacro(name: "RNDC", description: "BIND remote management protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(953)]),
        ]),
        FirewallMacro(name: "Rsync", description: "Rsync server", entries: [
            Entry(proto: "tcp", dport: [PortRange(873)]),
        ]),
        FirewallMacro(name: "SANE", description: "SANE network scanning", entries: [
            Entry(proto: "tcp", dport: [PortRange(6566)]),
        ]),
        FirewallMacro(name: "SixXS", description: "SixXS IPv6 Deployment and Tunnel Broker", entries: [
            Entry(proto: "tcp", dport: [PortRange(3874)]),
            Entry(proto: "udp", dport: [PortRange(3740)]),
            Entry(proto: "41"),  // IPv6 encapsulation (6in4)
            Entry(proto: "udp", dport: ports("5072,8374")),
        ]),
        FirewallMacro(name: "SMB", description: "Microsoft SMB traffic", entries: [
            Entry(proto: "udp", dport: ports("135,445")),
            Entry(proto: "udp", dport: ports("137:139")),
            Entry(proto: "udp", dport: ports("1024:65535"), sport: [PortRange(137)]),
            Entry(proto: "tcp", dport: ports("135,139,445")),
        ]),
        FirewallMacro(name: "SMBswat", description: "Samba Web Administration Tool", entries: [
            Entry(proto: "tcp", dport: [PortRange(901)]),
        ]),
        FirewallMacro(name: "SMTP", description: "Simple Mail Transfer Protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(25)]),
        ]),
        FirewallMacro(name: "SMTPS", description: "Encrypted Simple Mail Transfer Protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(465)]),
        ]),
        FirewallMacro(name: "SNMP", description: "Simple Network Management Protocol", entries: [
            Entry(proto: "udp", dport: ports("161:162")),
            Entry(proto: "tcp", dport: [PortRange(161)]),
        ]),
        FirewallMacro(name: "SPAMD", description: "Spam Assassin SPAMD traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(783)]),
        ]),
        FirewallMacro(name: "SPICEproxy", description: "Proxmox VE SPICE display proxy traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(3128)]),
        ]),
        FirewallMacro(name: "Squid", description: "Squid web proxy traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(3128)]),
        ]),
        FirewallMacro(name: "SSH", description: "Secure shell traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(22)]),
        ]),
        FirewallMacro(name: "Submission", description: "Mail message submission traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(587)]),
        ]),
        FirewallMacro(name: "SVN", description: "Subversion server (svnserve)", entries: [
            Entry(proto: "tcp", dport: [PortRange(3690)]),
        ]),
        FirewallMacro(name: "Syslog", description: "Syslog protocol (RFC 5424) traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(514)]),
            Entry(proto: "tcp", dport: [PortRange(514)]),
        ]),
        FirewallMacro(name: "Telnet", description: "Telnet traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(23)]),
        ]),
        FirewallMacro(name: "Telnets", description: "Telnet over SSL", entries: [
            Entry(proto: "tcp", dport: [PortRange(992)]),
        ]),
        FirewallMacro(name: "TFTP", description: "Trivial File Transfer Protocol traffic", entries: [
            Entry(proto: "udp", dport: [PortRange(69)]),
        ]),
        FirewallMacro(name: "Time", description: "RFC 868 Time protocol", entries: [
            Entry(proto: "tcp", dport: [PortRange(37)]),
        ]),
        FirewallMacro(name: "Trcrt", description: "Traceroute (for up to 30 hops) traffic", entries: [
            Entry(proto: "udp", dport: ports("33434:33524")),
            Entry(proto: "icmp", icmpType: "echo-request"),
            Entry(proto: "icmpv6", icmpType: "echo-request"),  // Proxmox's IPv6 override
        ]),
        FirewallMacro(name: "VNC", description: "VNC traffic for VNC display's 0 - 99", entries: [
            Entry(proto: "tcp", dport: ports("5900:5999")),
        ]),
        FirewallMacro(name: "VNCL", description: "VNC traffic from Vncservers to Vncviewers in listen mode", entries: [
            Entry(proto: "tcp", dport: [PortRange(5500)]),
        ]),
        FirewallMacro(name: "Web", description: "WWW traffic (HTTP and HTTPS)", entries: [
            Entry(proto: "tcp", dport: [PortRange(80)]),
            Entry(proto: "tcp", dport: [PortRange(443)]),
        ]),
        FirewallMacro(name: "Webcache", description: "Web Cache/Proxy traffic (port 8080)", entries: [
            Entry(proto: "tcp", dport: [PortRange(8080)]),
        ]),
        FirewallMacro(name: "Webmin", description: "Webmin traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(10000)]),
        ]),
        FirewallMacro(name: "Whois", description: "Whois (nicname, RFC 3912) traffic", entries: [
            Entry(proto: "tcp", dport: [PortRange(43)]),
        ]),
    ]
}

/// Parses a Proxmox-style port list (`6881:6889`, `135,139,445`); only for the literals above.
private func ports(_ text: String) -> [PortRange] {
    try! PortRange.parseList(text)
}
