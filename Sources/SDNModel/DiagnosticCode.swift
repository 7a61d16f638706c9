/// A short stable identifier of a check, e.g. `duplicate-name`: printed in parentheses after each diagnostic
/// and as `code` in JSON output, so tools can filter on it.
///
/// Codes are static members (`.duplicateName`), so a misspelt code does not compile. Each module declares the
/// codes of its own checks in an extension of this type; docs/schema.md (and docs/import-proxmox.md for the
/// importer) list every one of them, which `DiagnosticCodeDocumentationTests` checks in both directions.
public struct DiagnosticCode: Hashable, Sendable, Codable, CustomStringConvertible {
    private let name: String

    /// Only this package's modules make codes, each as a static member, so the set of codes is the documented one.
    package init(_ name: String) {
        self.name = name
    }

    /// The code as printed, e.g. `duplicate-name`.
    public var description: String { name }

    /// Decodes the plain string form, as written by `encode(to:)`.
    public init(from decoder: any Decoder) throws {
        name = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the plain string form (`"duplicate-name"`), as the JSON output has always shown it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// Checks of `Validator` (docs/schema.md, "Reported by validation"); a few of them are also reported while
/// reading, by the loader in SDNConfig.
extension DiagnosticCode {
    public static let bondOptionMode = DiagnosticCode("bond-option-mode")
    public static let cycle = DiagnosticCode("cycle")
    public static let dhcpContainsGateway = DiagnosticCode("dhcp-contains-gateway")
    public static let dhcpOutsideSubnet = DiagnosticCode("dhcp-outside-subnet")
    public static let dhcpOverlap = DiagnosticCode("dhcp-overlap")
    public static let duplicateAddress = DiagnosticCode("duplicate-address")
    public static let duplicateMac = DiagnosticCode("duplicate-mac")
    public static let duplicateName = DiagnosticCode("duplicate-name")
    public static let duplicateRuleId = DiagnosticCode("duplicate-rule-id")
    public static let duplicateTag = DiagnosticCode("duplicate-tag")
    public static let duplicateVni = DiagnosticCode("duplicate-vni")
    public static let emptyBond = DiagnosticCode("empty-bond")
    public static let exclusionOutsideSet = DiagnosticCode("exclusion-outside-set")
    public static let familyMismatch = DiagnosticCode("family-mismatch")
    public static let gatewayOutsideSubnet = DiagnosticCode("gateway-outside-subnet")
    public static let gatewayReserved = DiagnosticCode("gateway-reserved")
    public static let guestIdOutOfRange = DiagnosticCode("guest-id-out-of-range")
    public static let hostBitsSet = DiagnosticCode("host-bits-set")
    public static let icmpTypeWithoutIcmp = DiagnosticCode("icmp-type-without-icmp")
    public static let interfaceNameTooLong = DiagnosticCode("interface-name-too-long")
    public static let invalidBondMember = DiagnosticCode("invalid-bond-member")
    public static let invalidBridgePort = DiagnosticCode("invalid-bridge-port")
    public static let invalidDirection = DiagnosticCode("invalid-direction")
    public static let invalidInterface = DiagnosticCode("invalid-interface")
    public static let invalidMac = DiagnosticCode("invalid-mac")
    public static let invalidName = DiagnosticCode("invalid-name")
    public static let ipOutsideSubnets = DiagnosticCode("ip-outside-subnets")
    public static let macroWithProtocol = DiagnosticCode("macro-with-protocol")
    public static let misplacedOption = DiagnosticCode("misplaced-option")
    public static let missingAddress = DiagnosticCode("missing-address")
    public static let missingTag = DiagnosticCode("missing-tag")
    public static let missingValue = DiagnosticCode("missing-value")
    public static let mixedFamilies = DiagnosticCode("mixed-families")
    public static let mtuTooLarge = DiagnosticCode("mtu-too-large")
    public static let nestedGroup = DiagnosticCode("nested-group")
    public static let nicIndexOutOfRange = DiagnosticCode("nic-index-out-of-range")
    public static let noPeers = DiagnosticCode("no-peers")
    public static let notABridge = DiagnosticCode("not-a-bridge")
    public static let outOfRange = DiagnosticCode("out-of-range")
    public static let overlappingSubnets = DiagnosticCode("overlapping-subnets")
    public static let portInUse = DiagnosticCode("port-in-use")
    public static let portsWithoutPortProtocol = DiagnosticCode("ports-without-port-protocol")
    public static let portsWithoutProtocol = DiagnosticCode("ports-without-protocol")
    public static let rejectNotAllowed = DiagnosticCode("reject-not-allowed")
    public static let requiresVlanAware = DiagnosticCode("requires-vlan-aware")
    public static let tagOutOfRange = DiagnosticCode("tag-out-of-range")
    public static let undefinedReference = DiagnosticCode("undefined-reference")
    public static let unexpectedTag = DiagnosticCode("unexpected-tag")
    public static let unknownIcmpType = DiagnosticCode("unknown-icmp-type")
    public static let zoneNotOnNode = DiagnosticCode("zone-not-on-node")
}
