import SDNGuests
import SDNTesting
import Testing

@Suite struct InMemoryGuestInventoryTests {
    @Test func eventsFollowWhatTheTestDoes() async throws {
        let inventory = InMemoryGuestInventory()
        let events = await inventory.events()
        let domain = DomainDescription(name: "vm101", uuid: "u-101", vmid: 101, vmidSource: .name)
        await inventory.define(domain)
        try await inventory.start("vm101")
        try await inventory.attach(DomainInterface(position: 0, type: "ethernet", targetDevice: "tap101i1"), alias: "net1", to: "vm101")
        try await inventory.stop("vm101")
        await #expect(throws: LibvirtError.self) { try await inventory.stop("vm101") }
        try await inventory.undefine("vm101")

        let reference = DomainReference(name: "vm101", uuid: "u-101")
        // Everything was sent before reading: the stream buffered it, in order.
        var iterator = events.makeAsyncIterator()
        var received: [DomainEvent] = []
        for _ in 0..<5 { if let event = await iterator.next() { received.append(event) } }
        #expect(received == [
            .lifecycle(reference, .defined), .lifecycle(reference, .started), .deviceAdded(reference, alias: "net1"),
            .lifecycle(reference, .stopped(reason: .destroyed)), .lifecycle(reference, .undefined),
        ])
        #expect(try await inventory.domains().isEmpty)
    }
}
