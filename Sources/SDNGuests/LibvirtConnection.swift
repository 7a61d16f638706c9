import Foundation
internal import CLibvirt

/// A connection to a libvirt daemon (`qemu:///system`, or `qemu+unix:///system?socket=…` for a private
/// one): its domains, their XML, defining them, and their events.
///
/// It owns the `virConnectPtr` and closes it when released. libvirt's connection objects are
/// thread-safe (its client serialises calls internally), hence `@unchecked Sendable`.
public final class LibvirtConnection: @unchecked Sendable {
    /// The URI it was opened with.
    public let uri: String
    let handle: virConnectPtr

    /// Opens a read-write connection.
    /// - Throws: ``LibvirtError`` (``LibvirtError/Code/connectionFailed``) with libvirt's reason, e.g.
    ///   "Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory".
    public init(uri: String) throws(LibvirtError) {
        LibvirtEventLoop.ensureRunning()
        self.uri = uri
        do {
            handle = try withVirt("virConnectOpen") { virConnectOpen(uri) }
        } catch {
            throw LibvirtError(code: .connectionFailed, operation: "virConnectOpen(\(uri))", message: error.message, virtErrorCode: error.virtErrorCode)
        }
        // Keepalives over the event loop: a daemon that dies is noticed within ~15 s.
        _ = virConnectSetKeepAlive(handle, 5, 3)
    }

    deinit {
        virConnectClose(handle)
    }

    // MARK: - Domains

    /// Every domain, running or only defined, by name.
    public func domains() throws(LibvirtError) -> [DomainDescription] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let count = try withVirt("virConnectListAllDomains") { virConnectListAllDomains(handle, &list, 0) }
        defer { free(list) }
        var domains: [DomainDescription] = []
        var failure: LibvirtError?
        for index in 0..<Int(count) {
            guard let domain = list?[index] else { continue }
            defer { virDomainFree(domain) }
            guard failure == nil else { continue }
            do {
                domains.append(try describe(domain, live: false))
            } catch let error as LibvirtError {
                // Undefined between listing and reading: not an error of the listing.
                if error.code != .noDomain { failure = error }
            } catch {
                failure = LibvirtError(code: .other, operation: "virDomainGetXMLDesc", message: "\(error)")
            }
        }
        if let failure { throw failure }
        return domains.sorted { $0.name < $1.name }
    }

    /// The domain's XML: its persistent definition (`live: false`, what the next start uses) or what
    /// runs now (`live: true`, with the devices' aliases and the taps QEMU uses).
    public func xml(ofDomain name: String, live: Bool = false) throws(LibvirtError) -> String {
        try withDomain(name) { domain throws(LibvirtError) in try Self.xml(of: domain, live: live) }
    }

    /// The domain named `name`, parsed.
    public func domain(named name: String, live: Bool = false) throws -> DomainDescription {
        try DomainDescription(xml: try xml(ofDomain: name, live: live), source: "domain \(name)")
    }

    /// The domain whose UUID is `uuid` (with dashes), parsed.
    public func domain(uuid: String, live: Bool = false) throws -> DomainDescription {
        let domain = try withVirt("virDomainLookupByUUIDString") { virDomainLookupByUUIDString(handle, uuid) }
        defer { virDomainFree(domain) }
        return try describe(domain, live: live)
    }

    /// Defines (or redefines) a domain from XML, validated against libvirt's schema first, and
    /// returns it as libvirt now stores it.
    @discardableResult
    public func define(xml: String) throws -> DomainDescription {
        let flags = UInt32(VIR_DOMAIN_DEFINE_VALIDATE.rawValue)
        let domain = try withVirt("virDomainDefineXMLFlags") { virDomainDefineXMLFlags(handle, xml, flags) }
        defer { virDomainFree(domain) }
        return try describe(domain, live: false)
    }

    /// Whether the domain is running (or paused): it has a live definition.
    public func isActive(_ name: String) throws(LibvirtError) -> Bool {
        try withDomain(name) { domain throws(LibvirtError) in try withVirt("virDomainIsActive") { virDomainIsActive(domain) } == 1 }
    }

    /// Starts a defined domain.
    public func start(_ name: String) throws(LibvirtError) {
        try withDomain(name) { domain throws(LibvirtError) in _ = try withVirt("virDomainCreate") { virDomainCreate(domain) } }
    }

    /// Stops a running domain at once (power cut).
    public func destroy(_ name: String) throws(LibvirtError) {
        try withDomain(name) { domain throws(LibvirtError) in _ = try withVirt("virDomainDestroy") { virDomainDestroy(domain) } }
    }

    /// Removes a domain's persistent definition (a running domain becomes transient).
    public func undefine(_ name: String) throws(LibvirtError) {
        try withDomain(name) { domain throws(LibvirtError) in
            let flags = UInt32(VIR_DOMAIN_UNDEFINE_NVRAM.rawValue | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue)
            _ = try withVirt("virDomainUndefineFlags") { virDomainUndefineFlags(domain, flags) }
        }
    }

    /// Where a device change applies.
    public struct DeviceScope: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// The running domain (hot-plug).
        public static let live = DeviceScope(rawValue: UInt32(VIR_DOMAIN_AFFECT_LIVE.rawValue))
        /// The persistent definition.
        public static let config = DeviceScope(rawValue: UInt32(VIR_DOMAIN_AFFECT_CONFIG.rawValue))
    }

    /// Adds a device (e.g. an `<interface>`) to the running domain, its definition, or both.
    public func attachDevice(_ xml: String, to name: String, scope: DeviceScope = .live) throws(LibvirtError) {
        try withDomain(name) { domain throws(LibvirtError) in
            _ = try withVirt("virDomainAttachDeviceFlags") { virDomainAttachDeviceFlags(domain, xml, scope.rawValue) }
        }
    }

    /// Removes a device (matched by libvirt as it documents: an interface by its MAC) from the
    /// running domain, its definition, or both. For a live domain the guest may take a moment to
    /// let go; the `deviceRemoved` event says when it did.
    public func detachDevice(_ xml: String, from name: String, scope: DeviceScope = .live) throws(LibvirtError) {
        try withDomain(name) { domain throws(LibvirtError) in
            _ = try withVirt("virDomainDetachDeviceFlags") { virDomainDetachDeviceFlags(domain, xml, scope.rawValue) }
        }
    }

    // MARK: - Internals

    func withDomain<T>(_ name: String, _ body: (virDomainPtr) throws(LibvirtError) -> T) throws(LibvirtError) -> T {
        let domain = try withVirt("virDomainLookupByName(\(name))") { virDomainLookupByName(handle, name) }
        defer { virDomainFree(domain) }
        return try body(domain)
    }

    static func xml(of domain: virDomainPtr, live: Bool) throws(LibvirtError) -> String {
        let flags = live ? 0 : UInt32(VIR_DOMAIN_XML_INACTIVE.rawValue)
        let text = try withVirt("virDomainGetXMLDesc") { virDomainGetXMLDesc(domain, flags) }
        defer { free(text) }
        return String(cString: text)
    }

    private func describe(_ domain: virDomainPtr, live: Bool) throws -> DomainDescription {
        let name = virDomainGetName(domain).map { String(cString: $0) } ?? "?"
        return try DomainDescription(xml: try Self.xml(of: domain, live: live), source: "domain \(name)")
    }
}
