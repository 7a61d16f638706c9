import Foundation
import SDNTesting
import Testing

/// Parsing the guest's serial console, without booting anything.
@Suite struct KernelLabResultTests {
    @Test func parsesOutputSectionsAndStatusFromTheSerialConsole() throws {
        let console = [
            "SeaBIOS (version 1.16.2)",
            "=== LAB READY uptime=2.51 ===",
            "=== LAB STDOUT BEGIN ===",
            "first",
            "second",
            "",
            "=== LAB STDOUT END ===",
            "=== LAB STDERR BEGIN ===",
            "no newline at the end",
            "=== LAB STDERR END ===",
            "=== LAB SECTION links BEGIN ===",
            "[{\"ifname\":\"lo\"}]",
            "",
            "=== LAB SECTION links END ===",
            "=== LAB SECTION empty BEGIN ===",
            "",
            "=== LAB SECTION empty END ===",
            "=== LAB OUTPUT END rc=3 uptime=4.75 ===",
            "[    4.80] reboot: Power down",
        ].joined(separator: "\r\n")

        let result = try #require(KernelLabResult(console: console))
        #expect(result.exitCode == 3)
        #expect(result.stdout == "first\nsecond\n")
        #expect(result.stderr == "no newline at the end")
        #expect(result.sections == ["links": "[{\"ifname\":\"lo\"}]\n", "empty": ""])
        #expect(result.bootSeconds == 2.51)
        #expect(result.guestSeconds == 4.75)
        struct Link: Decodable, Equatable { var ifname: String }
        #expect(try result.decodeSection("links", as: [Link].self) == [Link(ifname: "lo")])
        #expect(throws: KernelLabError.self) { try result.section("absent") }
    }

    @Test func consoleWithoutTheClosingMarkerIsIncomplete() {
        #expect(KernelLabResult(console: "=== LAB READY uptime=1.0 ===\r\nKernel panic - not syncing\r\n") == nil)
    }
}
