/// The firewall options in force for one scope: every option decided, from the scope's own options, the
/// cluster's, and the defaults (docs/schema.md, `options`). `FirewallConfig.resolvedOptions(for:)` builds it;
/// the compiler reads only this, so the defaults live here and nowhere else.
public struct ResolvedFirewallOptions: Hashable, Sendable {
    public var enable: Bool
    public var policyIn: DefaultPolicy
    public var policyOut: DefaultPolicy
    public var policyForward: DefaultPolicy
    /// Drop frames from a guest NIC whose source MAC is not the NIC's.
    public var macfilter: Bool
    /// Drop packets from a guest NIC whose source IP is not one of its declared IPs (IPv4, IPv6 and ARP).
    public var ipfilter: Bool
    /// Allow DHCP (client side) through the NIC.
    public var dhcp: Bool
    /// Allow IPv6 neighbour discovery.
    public var ndp: Bool
    /// Allow the guest to send router advertisements (off: RA guard).
    public var radv: Bool
    /// Allow the guest to answer as a DHCP server (off: DHCP-server guard).
    public var dhcpServer: Bool
    public var logLevelIn: LogLevel
    public var logLevelOut: LogLevel
    public var logLevelForward: LogLevel
    public var logRateLimit: LogRateLimit
    /// Drop packets with a broadcast or multicast source address.
    public var nosmurfs: Bool
    /// Drop packets with illegal TCP flag combinations.
    public var tcpflags: Bool
    /// Accept packets conntrack marks invalid instead of dropping them.
    public var allowInvalid: Bool
    /// Keep SSH and the API reachable from management networks whatever the rules say.
    public var failsafe: Bool

    /// The values used when no level sets an option (the table in docs/schema.md, which a test compares).
    public static let defaults = ResolvedFirewallOptions(
        enable: true,
        policyIn: .drop, policyOut: .accept, policyForward: .accept,
        macfilter: true, ipfilter: false, dhcp: true, ndp: true, radv: false, dhcpServer: false,
        logLevelIn: .nolog, logLevelOut: .nolog, logLevelForward: .nolog, logRateLimit: .default,
        nosmurfs: true, tcpflags: false, allowInvalid: false,
        failsafe: true
    )

    /// These options with those `options` sets put over them: how a level inherits from the one above.
    public func applying(_ options: FirewallOptions) -> ResolvedFirewallOptions {
        ResolvedFirewallOptions(
            enable: options.enable ?? enable,
            policyIn: options.policyIn ?? policyIn,
            policyOut: options.policyOut ?? policyOut,
            policyForward: options.policyForward ?? policyForward,
            macfilter: options.macfilter ?? macfilter,
            ipfilter: options.ipfilter ?? ipfilter,
            dhcp: options.dhcp ?? dhcp,
            ndp: options.ndp ?? ndp,
            radv: options.radv ?? radv,
            dhcpServer: options.dhcpServer ?? dhcpServer,
            logLevelIn: options.logLevelIn ?? logLevelIn,
            logLevelOut: options.logLevelOut ?? logLevelOut,
            logLevelForward: options.logLevelForward ?? logLevelForward,
            logRateLimit: options.logRateLimit ?? logRateLimit,
            nosmurfs: options.nosmurfs ?? nosmurfs,
            tcpflags: options.tcpflags ?? tcpflags,
            allowInvalid: options.allowInvalid ?? allowInvalid,
            failsafe: options.failsafe ?? failsafe
        )
    }
}

extension FirewallOptions {
    /// Every option set, to the resolved values (what `sdn show` prints: defaults explicit, inheritance applied).
    public init(_ resolved: ResolvedFirewallOptions) {
        self.init()
        enable = resolved.enable
        policyIn = resolved.policyIn
        policyOut = resolved.policyOut
        policyForward = resolved.policyForward
        macfilter = resolved.macfilter
        ipfilter = resolved.ipfilter
        dhcp = resolved.dhcp
        ndp = resolved.ndp
        radv = resolved.radv
        dhcpServer = resolved.dhcpServer
        logLevelIn = resolved.logLevelIn
        logLevelOut = resolved.logLevelOut
        logLevelForward = resolved.logLevelForward
        logRateLimit = resolved.logRateLimit
        nosmurfs = resolved.nosmurfs
        tcpflags = resolved.tcpflags
        allowInvalid = resolved.allowInvalid
        failsafe = resolved.failsafe
    }
}
