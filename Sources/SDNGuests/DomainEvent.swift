/// Something that happened to a domain, as libvirt reports it (after the fact: events cannot gate a
/// guest's first packet; the qemu hook does that).
public enum DomainEvent: Sendable, Hashable, CustomStringConvertible {
    /// A lifecycle change: defined, started, stopped, …
    case lifecycle(DomainReference, Lifecycle)
    /// The guest rebooted (the domain kept running).
    case rebooted(DomainReference)
    /// A device was hot-plugged; `alias` is its libvirt alias (e.g. `net1`).
    case deviceAdded(DomainReference, alias: String)
    /// A device was unplugged (the guest let go of it).
    case deviceRemoved(DomainReference, alias: String)

    /// The lifecycle events libvirt sends (`virDomainEventType`), with its detail where it matters.
    public enum Lifecycle: Sendable, Hashable, CustomStringConvertible {
        case defined
        case undefined
        case started
        case suspended
        case resumed
        /// `reason`: libvirt's `virDomainEventStoppedDetailType` (shutdown, destroyed, crashed, migrated, saved, failed).
        case stopped(reason: StopReason)
        case shutdown
        case pmSuspended
        case crashed
        /// A type this libvirt is newer than.
        case other(Int32)

        public var description: String {
            switch self {
            case .defined: "defined"
            case .undefined: "undefined"
            case .started: "started"
            case .suspended: "suspended"
            case .resumed: "resumed"
            case .stopped(let reason): "stopped (\(reason.rawValue))"
            case .shutdown: "shutdown"
            case .pmSuspended: "pm-suspended"
            case .crashed: "crashed"
            case .other(let value): "event \(value)"
            }
        }
    }

    /// Why a domain stopped.
    public enum StopReason: String, Sendable, Hashable {
        case shutdown, destroyed, crashed, migrated, saved, failed, snapshot, unknown
    }

    /// The domain the event is about.
    public var domain: DomainReference {
        switch self {
        case .lifecycle(let domain, _), .rebooted(let domain), .deviceAdded(let domain, _), .deviceRemoved(let domain, _): domain
        }
    }

    public var description: String {
        switch self {
        case .lifecycle(let domain, let lifecycle): "\(domain.name): \(lifecycle)"
        case .rebooted(let domain): "\(domain.name): rebooted"
        case .deviceAdded(let domain, let alias): "\(domain.name): device \(alias) added"
        case .deviceRemoved(let domain, let alias): "\(domain.name): device \(alias) removed"
        }
    }
}

/// A domain named in an event: its name and UUID (the UUID survives a rename, the name is what users type).
public struct DomainReference: Sendable, Hashable {
    public var name: String
    public var uuid: String

    public init(name: String, uuid: String) {
        self.name = name
        self.uuid = uuid
    }
}
