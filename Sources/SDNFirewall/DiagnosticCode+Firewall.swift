public import SDNModel

/// Findings of the firewall compiler and its lints (docs/schema.md, "Reported by the compiler").
extension DiagnosticCode {
    public static let failsafeOpen = DiagnosticCode("failsafe-open")
    public static let firewallNeedsMac = DiagnosticCode("firewall-needs-mac")
    public static let ipfilterWithoutMac = DiagnosticCode("ipfilter-without-mac")
    public static let lockout = DiagnosticCode("lockout")
    public static let macfilterWithoutMac = DiagnosticCode("macfilter-without-mac")
    public static let minimalUndeclaredAddress = DiagnosticCode("minimal-undeclared-address")
    public static let minimalUnfilteredPath = DiagnosticCode("minimal-unfiltered-path")
    public static let neverMatches = DiagnosticCode("never-matches")
    public static let rejectInboundDrops = DiagnosticCode("reject-inbound-drops")
    public static let rejectNonIp = DiagnosticCode("reject-non-ip")
    public static let rejectUnsupported = DiagnosticCode("reject-unsupported")
    public static let shadowedRule = DiagnosticCode("shadowed-rule")
    public static let unknownPortsPass = DiagnosticCode("unknown-ports-pass")
    public static let vnetPolicyUnsupported = DiagnosticCode("vnet-policy-unsupported")
}
