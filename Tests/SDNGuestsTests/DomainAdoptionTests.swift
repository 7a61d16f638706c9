import Foundation
import SDNGuests
import SDNModel
import SDNTesting
import Testing

@Suite struct DomainAdoptionTests {
    func adopt(_ file: String, guest id: Int) throws -> DomainAdoption {
        let state = try GuestInterfaceXMLTests.state()
        let xml = try String(contentsOfFile: fixturesDirectory("adopt", file), encoding: .utf8)
        let domain = try DomainDescription(xml: xml)
        return try DomainAdoption.rewrite(xml: xml, domainName: domain.name, guest: GuestInterfaceXML.kvmGuest(id, in: state), state: state)
    }

    @Test func bridgeInterfacesBecomeTheGuestsTapsMatchedByMAC() throws {
        let adoption = try adopt("vm-101.xml", guest: 101)
        Golden.assertMatches(adoption.xml, goldenFile: fixturesDirectory("adopt", "vm-101.adopted.xml"))
        Golden.assertMatches(adoption.diff, goldenFile: fixturesDirectory("adopt", "vm-101.diff"))
        // The first interface in the XML is the guest's net1 (by its MAC), the second net0.
        #expect(adoption.changes.map(\.tap) == ["tap101i1", "tap101i0"])
        #expect(adoption.changes.map(\.matchedBy) == ["mac", "mac"])
        #expect(adoption.changes[1].dropped.count == 2, "the <vlan> and <filterref> of the web interface")
        #expect(adoption.unchanged.count == 1, "the network interface")

        // The result reads back with the new wiring and the kept hardware.
        let domain = try DomainDescription(xml: adoption.xml)
        #expect(domain.interfaces.map(\.type) == ["ethernet", "ethernet", "network"])
        #expect(domain.interfaces.map(\.targetDevice) == ["tap101i1", "tap101i0", nil])
        #expect(domain.interfaces.map(\.model) == ["virtio", "e1000", "virtio"])
        #expect(domain.interfaces[1].mtu == 1450)
        #expect(adoption.xml.contains("<boot order='2'/>"))
        #expect(adoption.xml.contains("<driver name='vhost' queues='2'/>"))
        #expect(adoption.xml.contains("<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>"))
    }

    @Test func interfacesMatchNICsWithoutMACInOrder() throws {
        let adoption = try adopt("web2.xml", guest: 102)
        #expect(adoption.changes.map(\.tap) == ["tap102i0", "tap102i1"])
        #expect(adoption.changes.map(\.matchedBy) == ["order", "order"])
        #expect(adoption.xml.contains("<target dev='tap102i0' managed='no'/>"))
        // The old libvirt-made target (vnet3) is replaced, not kept beside the new one.
        #expect(!adoption.xml.contains("vnet3"))
        #expect(adoption.xml.contains(#"<sdn:guest xmlns:sdn="https://sdn.dev/guest" vmid="102"/>"#), "the rest of the XML is untouched")
    }

    @Test func adoptingTwiceChangesNothing() throws {
        let first = try adopt("vm-101.xml", guest: 101)
        let state = try GuestInterfaceXMLTests.state()
        let again = try DomainAdoption.rewrite(xml: first.xml, domainName: "vm-101", guest: GuestInterfaceXML.kvmGuest(101, in: state), state: state)
        #expect(again.changes.isEmpty)
        #expect(again.diff.isEmpty)
        #expect(again.xml == first.xml)
    }

    @Test func anInterfaceThatMatchesNoNICIsAnErrorNamingIt() throws {
        let state = try GuestInterfaceXMLTests.state()
        // Guest 101 declares both its MACs: a third bridge interface with another MAC has no NIC to be.
        var xml = try String(contentsOfFile: fixturesDirectory("adopt", "vm-101.xml"), encoding: .utf8)
        xml = xml.replacingOccurrences(of: "    <interface type='network'>", with: """
                <interface type='bridge'>
                  <mac address='52:54:00:99:99:99'/>
                  <source bridge='web'/>
                </interface>
                <interface type='network'>
            """)
        do {
            _ = try DomainAdoption.rewrite(xml: xml, domainName: "vm-101", guest: GuestInterfaceXML.kvmGuest(101, in: state), state: state)
            Issue.record("an unmatched interface was adopted")
        } catch {
            #expect(error.message == "domain vm-101: interface 2 (bridge web, 52:54:00:99:99:99) matches no NIC of guest 101 (net0 52:54:00:00:01:01, net1 52:54:00:00:01:02)")
        }
    }
}
