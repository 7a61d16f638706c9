import Foundation
import SDNConfig
import SDNGuests
import SDNModel
import SDNTesting
import Testing

@Suite struct LibvirtImportTests {
    static let files = ["app.xml", "backup.xml", "vm-101.xml", "vm150.xml"]

    static func sources() throws -> [LibvirtImport.Source] {
        try files.map { file in
            let text = try String(contentsOfFile: fixturesDirectory("import", file), encoding: .utf8)
            return LibvirtImport.Source(domain: try DomainDescription(xml: text, source: file), file: file, xml: text)
        }
    }

    static func vnets() throws -> [VNet] {
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(loadDocuments(under: fixturesDirectory("vnets-only")))
        return try #require(validated?.value, "\(diagnostics)").vnets
    }

    @Test func domainsBecomeGuestsWithOneDiagnosticPerInterfaceLeftOut() throws {
        let vnets = try Self.vnets()
        let (maps, mapDiagnostics) = LibvirtImport.parseMaps(["virbr5=web"], vnetNames: Set(vnets.map(\.name)))
        #expect(mapDiagnostics.isEmpty)
        let result = LibvirtImport(try Self.sources(), node: "host1", vnets: vnets, maps: maps, origin: "4 XML files")
        Golden.assertMatches(result.yaml, goldenFile: fixturesDirectory("import", "guests.yaml"))
        Golden.assertMatches(result.diagnostics.map(\.description).joined(separator: "\n") + "\n", goldenFile: fixturesDirectory("import", "diagnostics.txt"))

        #expect(result.guests.map(\.id) == [101, 150])
        let web1 = try #require(result.guests.first { $0.id == 101 })
        #expect(web1.nics.map(\.index) == [0, 1], "net2 (libvirt network) is left out")
        #expect(web1.nics[1].attachment == .vnet("web"))
        let app = try #require(result.guests.first { $0.id == 150 })
        #expect(app.nics.map(\.index) == [0], "the mapped bridge only; net1-net4 are direct, user, an unknown bridge and a VLAN on a plain vnet")
        // One diagnostic per interface left out: app's direct, user, br-lab and VLAN 20 on db,
        // vm-101's libvirt network, backup's one (no vmid), and vm150 as a duplicate of app.
        let byCode = Dictionary(grouping: result.diagnostics, by: \.code).mapValues(\.count)
        #expect(byCode == [.libvirtInterfaceType: 3, .libvirtUnknownBridge: 1, .libvirtNoVmid: 1, .libvirtDuplicateGuest: 1, .libvirtVlanOnPlainVnet: 1])
        #expect(result.diagnostics.allSatisfy { $0.location != nil && $0.path.hasPrefix("domain ") })
    }

    @Test func theOutputLoadsBackAsTheSameGuests() throws {
        let vnets = try Self.vnets()
        let result = LibvirtImport(try Self.sources(), node: "host1", vnets: vnets, maps: ["virbr5": "web"], origin: "test")
        var documents = loadDocuments(under: fixturesDirectory("vnets-only"))
        documents.append(ConfigDocument(path: "Topologies/imported.yaml", text: result.yaml, kind: .topology))
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        let state = try #require(validated?.value, "\(diagnostics.map(\.description))")
        #expect(state.guests == result.guests)
    }

    @Test func badMapsAreErrors() {
        let (maps, diagnostics) = LibvirtImport.parseMaps(["virbr0", "=web", "br0=nope", "br1=web", "br1=db"], vnetNames: ["web", "db"])
        #expect(maps == ["br1": "web"])
        #expect(diagnostics.map(\.message) == [
            "--map 'virbr0' is not BRIDGE=VNET", "--map '=web' is not BRIDGE=VNET",
            "--map br0=nope: the configuration has no vnet 'nope'", "--map maps bridge 'br1' to both 'web' and 'db'",
        ])
        #expect(diagnostics.allSatisfy { $0.severity == .error && $0.code == .libvirtInvalidMap })
    }

    @Test func domainsReadFromLibvirtHaveNoLocationButNameTheDomain() throws {
        let domain = try DomainDescription(xml: try String(contentsOfFile: fixturesDirectory("import", "backup.xml"), encoding: .utf8))
        let result = LibvirtImport([.init(domain: domain)], node: "host1", vnets: try Self.vnets(), maps: [:], origin: "qemu:///system")
        #expect(result.guests.isEmpty)
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics[0].location == nil)
        #expect(result.diagnostics[0].message == "domain backup has no vmid, so its interface 0 (bridge db, 52:54:00:00:0b:00) cannot become a guest NIC")
    }
}
