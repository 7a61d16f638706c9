import Foundation
internal import CLibvirt
import Synchronization

/// libvirt's default event loop, run on a dedicated thread for the life of the process.
///
/// libvirt delivers domain events (and connection keepalives) only from an event loop the client
/// runs, and the loop implementation must be registered before the first connection opens; the
/// default implementation is process-global and cannot be unregistered, so there is one loop and
/// one thread, started the first time a ``LibvirtConnection`` opens.
enum LibvirtEventLoop {
    private static let started = Mutex(false)

    static func ensureRunning() {
        started.withLock { started in
            guard !started else { return }
            started = true
            _ = virInitialize()
            // libvirt prints every error on stderr by default; ours are thrown with its message.
            virSetErrorFunc(nil, ignoreError)
            _ = virEventRegisterDefaultImpl()
            let thread = Thread {
                while true {
                    // Returns after each dispatched event or timer; a failure (no handles yet)
                    // would otherwise spin.
                    if virEventRunDefaultImpl() < 0 { usleep(100_000) }
                }
            }
            thread.name = "libvirt-events"
            thread.start()
        }
    }
}

private let ignoreError: @convention(c) (UnsafeMutableRawPointer?, virErrorPtr?) -> Void = { _, _ in }
