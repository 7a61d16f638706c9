/// The guests a node runs, as its hypervisor sees them: the domains and what happens to them.
///
/// One real implementation (``LibvirtGuestInventory``) and one in-memory fake (SDNTesting's
/// `InMemoryGuestInventory`), so code that reacts to guests is tested without libvirt.
public protocol GuestInventory: Sendable {
    /// Every domain, running or only defined, with its persistent definition.
    func domains() async throws -> [DomainDescription]
    /// The domain named `name` (its persistent definition, or the running one with `live`), or nil.
    func domain(named name: String, live: Bool) async throws -> DomainDescription?
    /// Whether the domain named `name` runs now.
    func isRunning(_ name: String) async throws -> Bool
    /// Events from now on, until the consumer stops reading.
    func events() async throws -> AsyncStream<DomainEvent>
}

/// ``GuestInventory`` over a libvirt connection.
public struct LibvirtGuestInventory: GuestInventory {
    public let connection: LibvirtConnection

    public init(connection: LibvirtConnection) {
        self.connection = connection
    }

    /// Opens `uri` (by default the system's QEMU driver).
    public init(uri: String = "qemu:///system") throws(LibvirtError) {
        connection = try LibvirtConnection(uri: uri)
    }

    public func domains() async throws -> [DomainDescription] {
        try connection.domains()
    }

    public func domain(named name: String, live: Bool = false) async throws -> DomainDescription? {
        do {
            return try connection.domain(named: name, live: live)
        } catch let error as LibvirtError where error.code == .noDomain {
            return nil
        }
    }

    public func isRunning(_ name: String) async throws -> Bool {
        try connection.isActive(name)
    }

    public func events() async throws -> AsyncStream<DomainEvent> {
        try connection.events()
    }
}
