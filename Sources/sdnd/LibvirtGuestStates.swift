import Logging
import SDNGuests
import Synchronization

/// KVM guests' states for `sdn guests`, read from libvirt when asked (a connection per request: sdnd
/// must not depend on libvirtd running, and a request is rare). Domains are matched to guests by vmid
/// (`<sdn:guest vmid=…/>` metadata, or a name like `101` or `vm101`).
final class LibvirtGuestStates: Sendable {
    let uri: String
    let logger: Logger
    private let warned = Mutex(false)

    init(uri: String, logger: Logger) {
        self.uri = uri
        self.logger = logger
    }

    func states() async -> [Int: String] {
        do {
            let connection = try LibvirtConnection(uri: uri)
            var states: [Int: String] = [:]
            for domain in try connection.domains() {
                guard let vmid = domain.vmid else { continue }
                states[vmid] = try connection.isActive(domain.name) ? "running" : "shut off"
            }
            return states
        } catch {
            let first = warned.withLock { warned in defer { warned = true }; return !warned }
            if first { logger.notice("libvirt at \(uri) cannot be read (\(error)); guest states are inferred from their ports") }
            return [:]
        }
    }
}
