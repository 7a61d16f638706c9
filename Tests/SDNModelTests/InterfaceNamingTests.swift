import SDNModel
import Testing

@Suite struct InterfaceNamingTests {
    @Test(arguments: [
        ("tap101i0", "kvm", 101, 0), ("veth201i3", "lxc", 201, 3), ("tap999999999i31", "kvm", 999_999_999, 31),
    ])
    func aGuestPortNameSaysItsGuestAndNIC(name: String, kind: String, guest: Int, nic: Int) throws {
        let port = try #require(InterfaceNaming.guestPort(named: name))
        #expect(port.kind.rawValue == kind && port.guestID == guest && port.nicIndex == nic)
        #expect(InterfaceNaming.guestInterface(kind: port.kind, guestID: port.guestID, nicIndex: port.nicIndex) == name)
    }

    @Test(arguments: ["tap99i0", "tap101i32", "tap101", "tapi0", "tap101i", "tap0101i0", "tap101i00", "vnet3", "veth101i0x", "tap+101i0", "tap١٠١i0", "eth0"])
    func otherNamesAreNoGuestsPort(name: String) {
        #expect(InterfaceNaming.guestPort(named: name) == nil)
    }
}
