import Foundation
internal import CLibvirt

extension LibvirtConnection {
    /// The domains' events from now on: lifecycle, reboot, device added and device removed, for every
    /// domain of the connection. Delivered from libvirt's event-loop thread; events queue without
    /// bound, in order, until read. The stream keeps the connection open; it ends when the consumer
    /// stops reading it (the callbacks are deregistered then) or libvirt drops the registrations.
    /// - Throws: ``LibvirtError`` if libvirt refuses a registration.
    public func events() throws(LibvirtError) -> AsyncStream<DomainEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DomainEvent.self)
        let registrations: [(Int32, virConnectDomainEventGenericCallback)] = [
            (Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue), unsafeBitCast(lifecycleCallback, to: virConnectDomainEventGenericCallback.self)),
            (Int32(VIR_DOMAIN_EVENT_ID_REBOOT.rawValue), rebootCallback),
            (Int32(VIR_DOMAIN_EVENT_ID_DEVICE_ADDED.rawValue), unsafeBitCast(deviceAddedCallback, to: virConnectDomainEventGenericCallback.self)),
            (Int32(VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED.rawValue), unsafeBitCast(deviceRemovedCallback, to: virConnectDomainEventGenericCallback.self)),
        ]
        var callbackIDs: [Int32] = []
        for (eventID, callback) in registrations {
            // One retained sink per registration: libvirt releases each through `releaseSink` when
            // that registration goes.
            let sink = Unmanaged.passRetained(EventSink(continuation)).toOpaque()
            let id = virConnectDomainEventRegisterAny(handle, nil, eventID, callback, sink, releaseSink)
            guard id >= 0 else {
                let error = LibvirtError.last("virConnectDomainEventRegisterAny")
                Unmanaged<EventSink>.fromOpaque(sink).release()
                for registered in callbackIDs { virConnectDomainEventDeregisterAny(handle, registered) }
                continuation.finish()
                throw error
            }
            callbackIDs.append(id)
        }
        // The connection stays open while the stream is consumed.
        let owner = self
        let ids = callbackIDs
        continuation.onTermination = { termination in
            // `.finished` comes from `releaseSink`, inside libvirt's own deregistration: calling back
            // into it there could deadlock, and there is nothing left to deregister.
            guard case .cancelled = termination else { return }
            for id in ids { virConnectDomainEventDeregisterAny(owner.handle, id) }
        }
        return stream
    }
}

/// Holds a stream's continuation for libvirt's opaque pointer.
final class EventSink: Sendable {
    let continuation: AsyncStream<DomainEvent>.Continuation
    init(_ continuation: AsyncStream<DomainEvent>.Continuation) { self.continuation = continuation }

    static func yield(_ opaque: UnsafeMutableRawPointer?, _ event: (DomainReference) -> DomainEvent, domain: virDomainPtr?) {
        guard let opaque, let domain else { return }
        let sink = Unmanaged<EventSink>.fromOpaque(opaque).takeUnretainedValue()
        sink.continuation.yield(event(DomainReference(domain)))
    }
}

extension DomainReference {
    init(_ domain: virDomainPtr) {
        let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        let uuid = virDomainGetUUIDString(domain, &buffer) == 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        self.init(name: name, uuid: uuid)
    }
}

extension DomainEvent.Lifecycle {
    init(event: Int32, detail: Int32) {
        switch virDomainEventType(rawValue: UInt32(bitPattern: event)) {
        case VIR_DOMAIN_EVENT_DEFINED: self = .defined
        case VIR_DOMAIN_EVENT_UNDEFINED: self = .undefined
        case VIR_DOMAIN_EVENT_STARTED: self = .started
        case VIR_DOMAIN_EVENT_SUSPENDED: self = .suspended
        case VIR_DOMAIN_EVENT_RESUMED: self = .resumed
        case VIR_DOMAIN_EVENT_STOPPED:
            let reason: DomainEvent.StopReason = switch virDomainEventStoppedDetailType(rawValue: UInt32(bitPattern: detail)) {
            case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: .shutdown
            case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: .destroyed
            case VIR_DOMAIN_EVENT_STOPPED_CRASHED: .crashed
            case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: .migrated
            case VIR_DOMAIN_EVENT_STOPPED_SAVED: .saved
            case VIR_DOMAIN_EVENT_STOPPED_FAILED: .failed
            case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: .snapshot
            default: .unknown
            }
            self = .stopped(reason: reason)
        case VIR_DOMAIN_EVENT_SHUTDOWN: self = .shutdown
        case VIR_DOMAIN_EVENT_PMSUSPENDED: self = .pmSuspended
        case VIR_DOMAIN_EVENT_CRASHED: self = .crashed
        default: self = .other(event)
        }
    }
}

// The C callbacks are globals in this file, not in a `main.swift`: there they would be main-actor
// code, and libvirt calls them from its event-loop thread (Swift 6 traps on that).

private let lifecycleCallback: @convention(c) (virConnectPtr?, virDomainPtr?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, domain, event, detail, opaque in
    EventSink.yield(opaque, { .lifecycle($0, DomainEvent.Lifecycle(event: event, detail: detail)) }, domain: domain)
    return 0
}

private let rebootCallback: @convention(c) (virConnectPtr?, virDomainPtr?, UnsafeMutableRawPointer?) -> Void = { _, domain, opaque in
    EventSink.yield(opaque, { .rebooted($0) }, domain: domain)
}

private let deviceAddedCallback: @convention(c) (virConnectPtr?, virDomainPtr?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, domain, alias, opaque in
    let alias = alias.map { String(cString: $0) } ?? ""
    EventSink.yield(opaque, { .deviceAdded($0, alias: alias) }, domain: domain)
}

private let deviceRemovedCallback: @convention(c) (virConnectPtr?, virDomainPtr?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, domain, alias, opaque in
    let alias = alias.map { String(cString: $0) } ?? ""
    EventSink.yield(opaque, { .deviceRemoved($0, alias: alias) }, domain: domain)
}

private let releaseSink: @convention(c) (UnsafeMutableRawPointer?) -> Void = { opaque in
    guard let opaque else { return }
    let sink = Unmanaged<EventSink>.fromOpaque(opaque).takeRetainedValue()
    // The registration is gone (deregistered, or the connection closed): nothing more will come.
    sink.continuation.finish()
}
