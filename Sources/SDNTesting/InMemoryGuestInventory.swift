public import SDNGuests

/// ``GuestInventory`` in memory, for code that reacts to guests, tested without libvirt: the test
/// defines, starts, stops and hot-plugs domains, and every subscriber of ``events()`` sees the events
/// libvirt would send for each of them, in order.
public actor InMemoryGuestInventory: GuestInventory {
    private var definitions: [String: DomainDescription] = [:]
    private var running: Set<String> = []
    private var subscribers: [Int: AsyncStream<DomainEvent>.Continuation] = [:]
    private var nextSubscriber = 0

    public init(domains: [DomainDescription] = []) {
        for domain in domains { definitions[domain.name] = domain }
    }

    // MARK: GuestInventory

    public func domains() -> [DomainDescription] {
        definitions.values.sorted { $0.name < $1.name }
    }

    public func domain(named name: String, live: Bool) -> DomainDescription? {
        if live && !running.contains(name) { return nil }
        return definitions[name]
    }

    public func isRunning(_ name: String) -> Bool { running.contains(name) }

    public func events() -> AsyncStream<DomainEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DomainEvent.self)
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    // MARK: What the test does

    /// Defines (or redefines) a domain: `defined`.
    public func define(_ domain: DomainDescription) {
        definitions[domain.name] = domain
        emit(.lifecycle(reference(domain), .defined))
    }

    /// Starts a defined domain: `started`.
    public func start(_ name: String) throws(LibvirtError) {
        let domain = try defined(name)
        guard running.insert(name).inserted else {
            throw LibvirtError(code: .invalidState, operation: "virDomainCreate", message: "Requested operation is not valid: domain is already running")
        }
        emit(.lifecycle(reference(domain), .started))
    }

    /// Stops a running domain: `stopped` with `reason`.
    public func stop(_ name: String, reason: DomainEvent.StopReason = .destroyed) throws(LibvirtError) {
        let domain = try defined(name)
        guard running.remove(name) != nil else {
            throw LibvirtError(code: .invalidState, operation: "virDomainDestroy", message: "Requested operation is not valid: domain is not running")
        }
        emit(.lifecycle(reference(domain), .stopped(reason: reason)))
    }

    /// A reboot inside the guest: `rebooted`.
    public func reboot(_ name: String) throws(LibvirtError) {
        emit(.rebooted(reference(try defined(name))))
    }

    /// Removes a domain's definition: `undefined`.
    public func undefine(_ name: String) throws(LibvirtError) {
        let domain = try defined(name)
        definitions[name] = nil
        emit(.lifecycle(reference(domain), .undefined))
    }

    /// Hot-plugs an interface into a running domain: `deviceAdded` with `alias`.
    public func attach(_ interface: DomainInterface, alias: String, to name: String) throws(LibvirtError) {
        var domain = try defined(name)
        var added = interface
        added.position = domain.interfaces.count
        added.alias = alias
        domain.interfaces.append(added)
        definitions[name] = domain
        emit(.deviceAdded(reference(domain), alias: alias))
    }

    /// Unplugs the interface with `alias`: `deviceRemoved`.
    public func detach(alias: String, from name: String) throws(LibvirtError) {
        var domain = try defined(name)
        domain.interfaces.removeAll { $0.alias == alias }
        for index in domain.interfaces.indices { domain.interfaces[index].position = index }
        definitions[name] = domain
        emit(.deviceRemoved(reference(domain), alias: alias))
    }

    /// Sends any event, as libvirt would.
    public func emit(_ event: DomainEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    private func defined(_ name: String) throws(LibvirtError) -> DomainDescription {
        guard let domain = definitions[name] else {
            throw LibvirtError(code: .noDomain, operation: "virDomainLookupByName(\(name))", message: "Domain not found: no domain with matching name '\(name)'")
        }
        return domain
    }

    private func reference(_ domain: DomainDescription) -> DomainReference {
        DomainReference(name: domain.name, uuid: domain.uuid)
    }
}
