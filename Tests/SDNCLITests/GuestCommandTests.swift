import Foundation
import SDNGuests
import SDNNetns
import SDNTesting
import Testing

/// `sdn guest xml`, `sdn guest adopt` and `sdn import libvirt`, run as a user runs them. Their inputs
/// are SDNGuestsTests' fixtures (the library's goldens are there).
@Suite struct GuestCommandTests {
    static let fixtures = repositoryRoot + "/Tests/SDNGuestsTests/Fixtures"

    func sdn(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests (run `swift build` first)")
        return try Shell.run([binary] + arguments)
    }

    @Test func guestXMLPrintsTheInterfacesToPaste() throws {
        let result = try sdn(["guest", "xml", "101", "--config", Self.fixtures + "/config"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("    <interface type='ethernet'>\n      <mac address='52:54:00:00:01:01'/>\n      <target dev='tap101i0' managed='no'/>"))
        #expect(result.stdout.contains("<mtu size='1450'/>"))
    }

    @Test func guestXMLRefusesContainersAndUnknownGuests() throws {
        let container = try sdn(["guest", "xml", "103", "--config", Self.fixtures + "/config"])
        #expect(container.status == 1)
        #expect(container.stderr.contains("guest 103 (ct1) is an LXC container"))
        let unknown = try sdn(["guest", "xml", "404", "--config", Self.fixtures + "/config"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no guest 404 in the configuration"))
        #expect(unknown.stdout.isEmpty)
    }

    @Test func adoptOfAnXMLFilePrintsTheDiffAndDefinesNothing() throws {
        let result = try sdn(["guest", "adopt", "--xml", Self.fixtures + "/adopt/vm-101.xml", "--config", Self.fixtures + "/config"])
        #expect(result.status == 0, "\(result.stderr)")
        let golden = try String(contentsOfFile: Self.fixtures + "/adopt/vm-101.diff", encoding: .utf8)
        #expect(result.stdout == golden)
        #expect(result.stderr.contains("interface 1 → net0 on tap101i0 (matched by mac)"))
        #expect(result.stderr.contains("not defined: the domain was read from a file"))
    }

    @Test func importOfXMLFilesPrintsGuestsAndDiagnostics() throws {
        let files = ["app.xml", "backup.xml", "vm-101.xml", "vm150.xml"].flatMap { ["--xml", Self.fixtures + "/import/" + $0] }
        let result = try sdn(["import", "libvirt"] + files + ["--map", "virbr5=web", "--config", Self.fixtures + "/vnets-only"])
        #expect(result.status == 1, "two domains with vmid 150 is an error")
        #expect(result.stdout.contains("  150:\n    name: app\n    kind: kvm\n    node: host1\n"))
        #expect(result.stderr.contains("vm150.xml:1:1: error: domain vm150 (\(Self.fixtures)/import/vm150.xml) has vmid 150"))
        #expect(result.stderr.contains("app.xml:26:5: warning: domain app: interface 3 (bridge br-lab, 52:54:00:00:15:03): bridge 'br-lab' is not a vnet"))
        #expect(result.stderr.contains("the imported guests validate with the configuration"))

        let clean = try sdn(["import", "libvirt", "--xml", Self.fixtures + "/import/vm-101.xml", "--config", Self.fixtures + "/vnets-only"])
        #expect(clean.status == 0, "\(clean.stderr)")
        let check = try sdn(["import", "libvirt", "--xml", Self.fixtures + "/import/vm-101.xml", "--config", Self.fixtures + "/vnets-only", "--check"])
        #expect(check.status == 1, "its libvirt network interface is left out")
        let badMap = try sdn(["import", "libvirt", "--xml", Self.fixtures + "/import/app.xml", "--map", "virbr5=nope", "--config", Self.fixtures + "/vnets-only"])
        #expect(badMap.status == 1)
        #expect(badMap.stderr.contains("--map virbr5=nope: the configuration has no vnet 'nope'"))
    }

    @Test(.libvirtLab) func adoptRedefinesTheDomainThroughLibvirt() throws {
        try withTemporaryNetworkNamespace { namespace in
            let lab = try LibvirtLab(namespace: namespace)
            defer { lab.stop() }
            // The fixture is a KVM domain; this machine runs QEMU under TCG.
            let xml = try String(contentsOfFile: Self.fixtures + "/adopt/vm-101.xml", encoding: .utf8)
                .replacingOccurrences(of: "<domain type='kvm'>", with: "<domain type='qemu'>")
            try lab.define(xml)
            let arguments = ["guest", "adopt", "vm-101", "--uri", lab.uri, "--config", Self.fixtures + "/config"]

            let dry = try sdn(arguments + ["--dry-run"])
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("+      <target dev='tap101i0' managed='no'/>"))
            #expect(try lab.connection.domain(named: "vm-101").interfaces.map(\.type) == ["bridge", "bridge", "network"], "--dry-run defines nothing")

            let adopted = try sdn(arguments)
            #expect(adopted.status == 0, "\(adopted.stderr)")
            #expect(adopted.stdout.contains("defined domain vm-101"))
            let domain = try lab.connection.domain(named: "vm-101")
            #expect(domain.interfaces.map(\.type) == ["ethernet", "ethernet", "network"])
            #expect(domain.interfaces.map(\.targetDevice) == ["tap101i1", "tap101i0", nil])
            #expect(domain.interfaces.map(\.targetManaged) == [false, false, nil])
            #expect(domain.interfaces.map(\.mac?.description) == ["52:54:00:00:01:02", "52:54:00:00:01:01", "52:54:00:aa:bb:cc"])
            #expect(domain.interfaces[1].mtu == 1450)

            let again = try sdn(arguments)
            #expect(again.status == 0)
            #expect(again.stdout.contains("nothing to adopt"))
        }
    }

    @Test(.libvirtLab) func importReadsTheDomainsOfALibvirtDaemon() throws {
        try withTemporaryNetworkNamespace { namespace in
            let lab = try LibvirtLab(namespace: namespace)
            defer { lab.stop() }
            let xml = try String(contentsOfFile: Self.fixtures + "/import/vm-101.xml", encoding: .utf8)
                .replacingOccurrences(of: "<domain type='kvm'>", with: "<domain type='qemu'>")
            try lab.define(xml)
            let result = try sdn(["import", "libvirt", "--uri", lab.uri, "--config", Self.fixtures + "/vnets-only"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("  101:\n    name: vm-101\n"))
            #expect(result.stdout.contains("      net1:\n        vnet: web\n        mac: \"52:54:00:00:01:01\"\n"))
            #expect(result.stderr.contains("warning: domain vm-101: interface 2 (network default, 52:54:00:aa:bb:cc): on libvirt network 'default'"))
        }
    }
}
