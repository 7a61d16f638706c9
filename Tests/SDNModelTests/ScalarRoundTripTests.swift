@testable import SDNModel
import Testing

/// Domain scalars read from and print to the same text (the canonical form), and reject bad text with a
/// reason and the offset of the problem.
@Suite struct ScalarRoundTripTests {
    @Test(arguments: ["eth0", "vmbr0", "bond0.100", "tap999999999i31", "vxlan_web", "a"])
    func interfaceNamesRoundTrip(_ text: String) throws {
        #expect(try InterfaceName(text).description == text)
    }

    @Test(arguments: ["", "sixteen-chars-xx", "a/b", "a:b", "with space", ".", "..", "tab\tname"])
    func invalidInterfaceNamesAreRejected(_ text: String) {
        #expect(throws: ScalarParseError.self) { try InterfaceName(text) }
    }

    @Test func interfaceNameLimitIsFifteenBytes() throws {
        _ = try InterfaceName(String(repeating: "x", count: 15))
        let error = #expect(throws: ScalarParseError.self) { try InterfaceName(String(repeating: "x", count: 16)) }
        #expect(error?.reason.contains("at most 15") == true)
    }

    @Test(arguments: [
        ("52:54:00:12:34:56", "52:54:00:12:34:56"),
        ("52-54-00-AB-cd-EF", "52:54:00:ab:cd:ef"),
    ])
    func macAddressesCanonicalise(_ input: String, _ canonical: String) throws {
        let mac = try MACAddress(input)
        #expect(mac.description == canonical)
        #expect(try MACAddress(mac.description) == mac)
    }

    @Test(arguments: ["52:54:00:12:34", "52:54:00:12:34:5g", "5254.0012.3456", "52:54:00:12:34:567"])
    func invalidMACsAreRejected(_ text: String) {
        #expect(throws: ScalarParseError.self) { try MACAddress(text) }
    }

    @Test func multicastMACIsRecognised() throws {
        #expect(try MACAddress("01:00:5e:00:00:01").isMulticast)
        #expect(try !MACAddress("52:54:00:00:00:01").isMulticast)
    }

    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("fd00::1", "fd00::1"), ("FD00:0:0:0:0:0:0:1", "fd00::1"), ("::", "::"), ("::1", "::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
    ])
    func ipAddressesCanonicalise(_ input: String, _ canonical: String) throws {
        let address = try IPAddress(input)
        #expect(address.description == canonical)
        #expect(try IPAddress(canonical) == address)
    }

    @Test(arguments: ["10.0.0", "10.0.0.256", "10.0.0.01", "1.2.3.4.5", "fd00:::1", "1:2:3:4:5:6:7:8:9", "fd00::1::2", "g::1", "", "10.0.0.-1"])
    func invalidAddressesAreRejected(_ text: String) {
        #expect(throws: ScalarParseError.self) { try IPAddress(text) }
    }

    @Test func prefixesRoundTripAndCompute() throws {
        let prefix = try IPPrefix("10.1.2.3/24")
        #expect(prefix.description == "10.1.2.3/24")
        #expect(prefix.network.description == "10.1.2.0")
        #expect(prefix.lastAddress.description == "10.1.2.255")
        #expect(!prefix.isNetworkAddress)
        #expect(prefix.masked.description == "10.1.2.0/24")
        #expect(prefix.contains(try IPAddress("10.1.2.200")))
        #expect(!prefix.contains(try IPAddress("10.1.3.1")))
        #expect(try IPPrefix("10.0.0.0/8").contains(try IPPrefix("10.1.0.0/16")))
        #expect(try !IPPrefix("10.1.0.0/16").contains(try IPPrefix("10.0.0.0/8")))
        #expect(try IPPrefix("192.0.2.7").description == "192.0.2.7/32")
        #expect(try IPPrefix("192.0.2.7").compactDescription == "192.0.2.7")
        let v6 = try IPPrefix("fd00:1::/64")
        #expect(v6.description == "fd00:1::/64")
        #expect(v6.contains(try IPAddress("fd00:1::ffff")))
        #expect(try IPPrefix("0.0.0.0/0").contains(try IPAddress("203.0.113.9")))
        #expect(try IPPrefix("::/0").contains(try IPAddress("2001:db8::1")))
        #expect(try IPPrefix("::/0").lastAddress.description == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    }

    @Test func prefixLengthErrorsPointAfterTheSlash() {
        let error = #expect(throws: ScalarParseError.self) { try IPPrefix("10.0.0.0/33") }
        #expect(error?.offset == 9)
        #expect(throws: ScalarParseError.self) { try IPPrefix("fd00::/129") }
        #expect(throws: ScalarParseError.self) { try IPPrefix("10.0.0.0/") }
    }

    @Test func rangesRoundTripAndRejectReversedOrMixed() throws {
        let range = try IPRange("10.0.0.100-10.0.0.200")
        #expect(range.description == "10.0.0.100-10.0.0.200")
        #expect(range.contains(try IPAddress("10.0.0.150")))
        #expect(range.isInside(try IPPrefix("10.0.0.0/24")))
        #expect(throws: ScalarParseError.self) { try IPRange("10.0.0.200-10.0.0.100") }
        #expect(throws: ScalarParseError.self) { try IPRange("10.0.0.1-fd00::1") }
        #expect(try IPRange("10.0.0.1-10.0.0.5").overlaps(try IPRange("10.0.0.5-10.0.0.9")))
        #expect(try !IPRange("10.0.0.1-10.0.0.4").overlaps(try IPRange("10.0.0.5-10.0.0.9")))
    }

    @Test func portsRoundTrip() throws {
        #expect(try PortRange("443").description == "443")
        #expect(try PortRange("8000-8080").description == "8000-8080")
        #expect(try PortRange("8000:8080").description == "8000-8080")
        #expect(try PortRange.parseList("22,80,8000-8080").map(\.description) == ["22", "80", "8000-8080"])
        #expect(throws: ScalarParseError.self) { try PortRange("65536") }
        #expect(throws: ScalarParseError.self) { try PortRange("90-80") }
        #expect(throws: ScalarParseError.self) { try PortRange("http") }
    }

    @Test func portListErrorsPointAtTheBadItem() {
        let error = #expect(throws: ScalarParseError.self) { try PortRange.parseList("80,443,99999") }
        #expect(error?.offset == 7)
    }

    @Test func vlanIDsAndVNIsEnforceTheirRanges() throws {
        #expect(try VLANID("1").value == 1)
        #expect(try VLANID("4094").description == "4094")
        #expect(throws: ScalarParseError.self) { try VLANID("0") }
        #expect(throws: ScalarParseError.self) { try VLANID("4095") }
        #expect(try VNI("16777215").description == "16777215")
        #expect(throws: ScalarParseError.self) { try VNI("0") }
        #expect(throws: ScalarParseError.self) { try VNI("16777216") }
        #expect(try VLANSet("2-4094").description == "2-4094")
        #expect(try VLANSet("10,20,100-199").contains(150))
        #expect(throws: ScalarParseError.self) { try VLANSet("0-10") }
        #expect(throws: ScalarParseError.self) { try VLANSet("20-10") }
    }

    @Test func mtuRange() throws {
        #expect(try MTU(9000).description == "9000")
        #expect(throws: ScalarParseError.self) { try MTU(67) }
        #expect(throws: ScalarParseError.self) { try MTU(65536) }
    }

    @Test(arguments: ["10.0.0.1", "10.0.0.0/8", "10.0.0.1-10.0.0.9", "@office", "fd00::/64"])
    func addressMatchesRoundTrip(_ text: String) throws {
        #expect(try AddressMatch(text).description == text)
    }

    @Test func ipSetEntriesRoundTripWithExclusion() throws {
        let entry = try IPSet.Entry("!10.0.0.7")
        #expect(entry.excluded)
        #expect(entry.description == "!10.0.0.7")
        #expect(try IPSet.Entry("@office").description == "@office")
    }

    @Test func logRateLimitRoundTrip() throws {
        #expect(try LogRateLimit("1/second burst 5").description == "1/second burst 5")
        #expect(try LogRateLimit("10/minute").description == "10/minute burst 5")
        #expect(throws: ScalarParseError.self) { try LogRateLimit("fast") }
    }

    @Test func protocolsByNameAndNumber() {
        #expect(IPProtocolName("tcp") == .tcp)
        #expect(IPProtocolName("6") == .tcp)
        #expect(IPProtocolName("47") == .gre)
        #expect(IPProtocolName("253")?.description == "253")
        #expect(IPProtocolName("bogus") == nil)
        #expect(IPProtocolName.tcp.hasPorts && !IPProtocolName.icmp.hasPorts)
    }

    @Test func suggestionsFindCloseWords() {
        #expect(Suggestion.closest(to: "optons", in: ["options", "rules"]) == "options")
        #expect(Suggestion.closest(to: "SHH", in: ["SSH", "HTTP"]) == "SSH")
        #expect(Suggestion.closest(to: "zzzzzz", in: ["options", "rules"]) == nil)
    }

    @Test func configPathsPrintLikeTheDocument() {
        let path = ConfigPath.topology / "vnets" / "web" / "subnets" / "10.0.0.0/24" / "dhcp" / 0
        #expect(path.description == "vnets.web.subnets[\"10.0.0.0/24\"].dhcp[0]")
    }
}
