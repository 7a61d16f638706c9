import Foundation
import SDNConfig
import SDNGuests
import SDNModel
import SDNTesting
import Testing

@Suite struct GuestInterfaceXMLTests {
    static func state() throws -> DesiredState {
        let documents = loadDocuments(under: fixturesDirectory("config"))
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        return try #require(validated?.value, "\(diagnostics)")
    }

    @Test func interfacesOfAKVMGuestUseItsTapsWithTheVnetMTU() throws {
        let xml = try GuestInterfaceXML.render(guestID: 101, in: Self.state())
        #expect(xml == """
                <interface type='ethernet'>
                  <mac address='52:54:00:00:01:01'/>
                  <target dev='tap101i0' managed='no'/>
                  <model type='virtio'/>
                  <mtu size='1450'/>
                </interface>
                <interface type='ethernet'>
                  <mac address='52:54:00:00:01:02'/>
                  <target dev='tap101i1' managed='no'/>
                  <model type='virtio'/>
                </interface>

            """)
        // What it prints is an interface libvirt's parser (ours) reads back as intended.
        let domain = try DomainDescription(xml: "<domain><name>vm101</name><devices>\(xml)</devices></domain>")
        #expect(domain.interfaces.map(\.targetDevice) == ["tap101i0", "tap101i1"])
        #expect(domain.interfaces.allSatisfy { $0.type == "ethernet" && $0.targetManaged == false })
    }

    @Test func aGuestWithoutMACsGetsNoMACElement() throws {
        let xml = try GuestInterfaceXML.render(guestID: 102, in: Self.state())
        #expect(!xml.contains("<mac"))
        #expect(xml.contains("<target dev='tap102i1' managed='no'/>"))
    }

    @Test func unknownGuestsAndContainersAreErrorsWithAHint() throws {
        let state = try Self.state()
        #expect(throws: GuestXMLError(message: "no guest 999 in the configuration", hint: "KVM guests: 101, 102")) {
            try GuestInterfaceXML.render(guestID: 999, in: state)
        }
        #expect(throws: GuestXMLError.self) { try GuestInterfaceXML.render(guestID: 103, in: state) }
        do {
            _ = try GuestInterfaceXML.render(guestID: 103, in: state)
        } catch {
            #expect(error.message == "guest 103 (ct1) is an LXC container, not a libvirt domain")
        }
    }
}
