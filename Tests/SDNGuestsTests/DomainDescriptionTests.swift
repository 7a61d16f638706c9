import Foundation
import SDNGuests
import SDNModel
import SDNTesting
import Testing

@Suite struct DomainDescriptionTests {
    static func fixture(_ path: String) throws -> String {
        try String(contentsOfFile: fixturesDirectory(path), encoding: .utf8)
    }

    @Test func readsNameUUIDAndEveryInterface() throws {
        let domain = try DomainDescription(xml: Self.fixture("adopt/vm-101.xml"))
        #expect(domain.name == "vm-101")
        #expect(domain.uuid == "6f1a2b3c-0000-4000-8000-000000000101")
        #expect(domain.type == "kvm")
        #expect(domain.vmid == 101)
        #expect(domain.vmidSource == .name)
        #expect(domain.interfaces.count == 3)
        let db = domain.interfaces[0]
        #expect(db.type == "bridge")
        #expect(db.mac == (try MACAddress("52:54:00:00:01:02")))
        #expect(db.sourceBridge == "db")
        #expect(db.model == "virtio")
        #expect(db.vlanTags == [])
        let web = domain.interfaces[1]
        #expect(web.position == 1)
        #expect(web.vlanTags == [10])
        #expect(web.model == "e1000")
        let network = domain.interfaces[2]
        #expect(network.type == "network")
        #expect(network.sourceNetwork == "default")
        #expect(network.sourceBridge == nil)
    }

    @Test func readsTargetManagedMTUAndAlias() throws {
        let domain = try DomainDescription(xml: """
            <domain type='qemu'><name>x</name><devices>
              <interface type='ethernet'>
                <mac address='52:54:00:00:01:01'/><target dev='tap101i0' managed='no'/><model type='virtio'/>
                <mtu size='1450'/><alias name='net0'/>
              </interface>
              <interface type='direct'><source dev='eth1' mode='bridge'/></interface>
              <interface type='bridge'><source bridge='br0'/><vlan trunk='yes'><tag id='20'/><tag id='30'/></vlan></interface>
            </devices></domain>
            """)
        let tap = domain.interfaces[0]
        #expect(tap.targetDevice == "tap101i0")
        #expect(tap.targetManaged == false)
        #expect(tap.mtu == 1450)
        #expect(tap.alias == "net0")
        #expect(domain.interfaces[1].sourceDevice == "eth1")
        #expect(domain.interfaces[1].mac == nil)
        #expect(domain.interfaces[2].vlanTags == [20, 30])
        #expect(domain.vmid == nil)
    }

    @Test func metadataWinsOverTheNameAndIsFoundByNamespaceNotPrefix() throws {
        let domain = try DomainDescription(xml: Self.fixture("import/app.xml"))
        #expect(domain.vmid == 150)
        #expect(domain.vmidSource == .metadata)
        let renamed = try DomainDescription(xml: """
            <domain><name>vm-200</name><metadata><other:guest xmlns:other='https://example.com/x' vmid='300'/>\
            <sdn:guest xmlns:sdn='https://sdn.dev/guest' vmid='201'/></metadata></domain>
            """)
        #expect(renamed.vmid == 201)
        let foreignOnly = try DomainDescription(xml: "<domain><name>vm-200</name><metadata><o:guest xmlns:o='https://example.com/x' vmid='300'/></metadata></domain>")
        #expect(foreignOnly.vmid == 200)
        #expect(foreignOnly.vmidSource == .name)
    }

    @Test(arguments: [
        ("101", 101), ("vm101", 101), ("vm-101", 101), ("VM-4242", 4242), ("999999999", 999_999_999),
        ("99", nil), ("0101", nil), ("vm-", nil), ("web1", nil), ("vm-101a", nil), ("1000000000", nil), ("vm--101", nil),
    ] as [(String, Int?)])
    func vmidFromName(name: String, expected: Int?) {
        #expect(DomainDescription.vmid(fromName: name) == expected)
    }

    @Test func malformedXMLAndOtherDocumentsAreErrorsNamingTheSource() {
        #expect(throws: DomainXMLError.self) { try DomainDescription(xml: "<domain><name>x</domain>", source: "x.xml") }
        do {
            _ = try DomainDescription(xml: "<network><name>default</name></network>", source: "net.xml")
            Issue.record("a <network> was read as a domain")
        } catch {
            #expect(error.description == "net.xml: the root element is not <domain>")
        }
        do {
            _ = try DomainDescription(xml: "<domain type='kvm'><uuid>1</uuid></domain>", source: "noname.xml")
            Issue.record("a domain without a name was read")
        } catch {
            #expect(error.description == "noname.xml: <domain> has no <name>")
        }
    }
}
