import Foundation
public import SDNGuests
public import SDNNetns
import Synchronization
public import Testing

/// A private libvirtd inside a test's network namespace (`scripts/guest-lab/libvirtd.sh`), for tests
/// with real QEMU domains: their taps live in that namespace, and nothing of the host's libvirt is
/// touched (its configuration, sockets, state and logs are under ``directory``).
///
/// Guests boot the kernel lab's Debian kernel (TCG) with an image made by ``makeGuestImage(script:files:binaries:)``;
/// the default guest script (`scripts/guest-lab/vm-guest.sh`) configures eth0 from the kernel
/// command line, sends its first packets, then serves TCP, printing marker lines on the serial
/// console that ``waitForSerial(_:containing:timeout:)`` waits for.
///
///     @Test(.libvirtLab) func boots() throws {
///         try withTemporaryNetworkNamespace { namespace in
///             let lab = try LibvirtLab(namespace: namespace)
///             defer { lab.stop() }
///             let image = try lab.makeGuestImage()
///             try lab.define(lab.domainXML(name: "vm101", image: image,
///                 interfaces: [.init(mac: "52:54:00:00:01:01", tap: "tap101i0")], settings: ["ip": "10.0.0.2/24"]))
///             try lab.connection.start("vm101")
///             try lab.waitForSerial("vm101", containing: "=== GUEST SERVING")
///         }
///     }
public final class LibvirtLab: @unchecked Sendable {
    /// A NIC of a lab domain: `<interface type='ethernet'>` on a tap that already exists.
    public struct Interface: Sendable {
        public var mac: String
        public var tap: String
        public var model: String

        public init(mac: String, tap: String, model: String = "virtio") {
            self.mac = mac
            self.tap = tap
            self.model = model
        }

        /// The `<interface>` element (also what a hot-plug attaches).
        public var xml: String {
            "<interface type='ethernet'><mac address='\(mac)'/><target dev='\(tap)' managed='no'/><model type='\(model)'/></interface>"
        }
    }

    public let namespace: NetworkNamespace
    /// Everything of this daemon: etc/ (with hooks/), run/ (its sockets), lib/, log/, images and serial logs.
    public let directory: String
    /// `qemu+unix:///system?socket=…`.
    public let uri: String
    public let connection: LibvirtConnection
    private let stopped = Mutex(false)

    /// The default guest: `scripts/guest-lab/vm-guest.sh`.
    public static let defaultGuestScriptPath = repositoryRoot + "/scripts/guest-lab/vm-guest.sh"
    static let script = repositoryRoot + "/scripts/guest-lab/libvirtd.sh"

    /// Why the lab cannot run here, or nil: needs root, libvirtd, virtlogd, virsh, QEMU and the kernel lab.
    public static var unavailableReason: String? { availability }

    private static let availability: String? = {
        var missing = SystemRequirements(requiresRoot: true, tools: ["libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "unshare", "ip"],
                                         linkKinds: [], paths: ["/dev/net/tun"]).missing()
        if missing.isEmpty, let reason = KernelLab.unavailableReason { missing.append(reason) }
        return missing.isEmpty ? nil : missing.joined(separator: "; ") + " (scripts/setup.sh installs libvirt-daemon-system and qemu-system-x86)"
    }()

    /// Starts a private libvirtd in `namespace` (a named one: the script enters it with `ip netns exec`).
    /// - Parameter hooks: libvirt hook scripts by name (`qemu`, `lxc`, …), installed executable in
    ///   etc/hooks before the daemon starts (libvirt reads hooks only at startup).
    public init(namespace: NetworkNamespace, hooks: [String: String] = [:]) throws {
        guard let name = namespace.name else {
            throw LibvirtLabError(message: "the lab needs a named network namespace (withTemporaryNetworkNamespace makes one)")
        }
        Self.removeStaleOnce()
        self.namespace = namespace
        directory = FileManager.default.temporaryDirectory.path + "/sdn-libvirt-\(getpid())-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/etc/hooks", withIntermediateDirectories: true)
        for (hook, text) in hooks {
            let path = directory + "/etc/hooks/" + hook
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }
        let result = try Shell.run(["bash", Self.script, "start", directory, name], timeout: .seconds(60))
        guard result.status == 0, let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("uri=") }) else {
            _ = try? Shell.run(["bash", Self.script, "stop", directory])
            throw LibvirtLabError(message: "libvirtd did not start: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        uri = String(line.dropFirst("uri=".count))
        do {
            connection = try LibvirtConnection(uri: uri)
        } catch {
            _ = try? Shell.run(["bash", Self.script, "stop", directory])
            throw error
        }
    }

    deinit { stop() }

    /// Destroys and undefines every domain, stops the daemon, removes ``directory``. Idempotent.
    public func stop() {
        let first = stopped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if let domains = try? connection.domains() {
            for domain in domains {
                if (try? connection.isActive(domain.name)) == true { try? connection.destroy(domain.name) }
                try? connection.undefine(domain.name)
            }
        }
        _ = try? Shell.run(["bash", Self.script, "stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Guests

    /// A guest image: the kernel lab's kernel and an initramfs whose `/lab/run.sh` is `script` (by
    /// default the lab's VM guest), written under ``directory``.
    public func makeGuestImage(script: String? = nil, files: [String: String] = [:], binaries: [String] = []) throws -> KernelLab.Image {
        let text = try script ?? String(contentsOfFile: Self.defaultGuestScriptPath, encoding: .utf8)
        return try KernelLab.makeImage(at: directory + "/guest-\(Self.counter.add(1, ordering: .relaxed).newValue).img", script: text, files: files, binaries: binaries)
    }

    /// A domain booting `image` under TCG with `interfaces` and its serial console in ``serialLogPath(_:)``.
    /// It has ACPI, without which QEMU's PCI bus takes no hot-plugged NIC.
    /// - Parameters:
    ///   - settings: `sdn.KEY=VALUE` words for the guest script's kernel command line (`ip`, `gw`,
    ///     `first`, `port`, `ipv6`).
    ///   - vmid: adds `<sdn:guest vmid=…>` metadata.
    ///   - devices: more device elements as XML, after `interfaces`: what `sdn guest xml` prints, or an
    ///     `<interface type='bridge'>` on which libvirt makes the tap itself.
    public func domainXML(name: String, image: KernelLab.Image, interfaces: [Interface], settings: [String: String] = [:],
                          memoryMiB: Int = 256, vmid: Int? = nil, devices: String = "") -> String {
        let cmdline = (["console=ttyS0", "quiet", "panic=-1"] + settings.sorted { $0.key < $1.key }.map { "sdn.\($0.key)=\($0.value)" }).joined(separator: " ")
        let metadata = vmid.map { "\n  <metadata>\n    <sdn:guest xmlns:sdn='\(DomainDescription.metadataNamespace)' vmid='\($0)'/>\n  </metadata>" } ?? ""
        return """
            <domain type='qemu'>
              <name>\(name)</name>\(metadata)
              <memory unit='MiB'>\(memoryMiB)</memory>
              <vcpu>1</vcpu>
              <os>
                <type arch='x86_64'>hvm</type>
                <kernel>\(image.kernel)</kernel>
                <initrd>\(image.initrd)</initrd>
                <cmdline>\(cmdline)</cmdline>
              </os>
              <features>
                <acpi/>
              </features>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>restart</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
            \(interfaces.map { "    " + $0.xml }.joined(separator: "\n"))
            \(devices)
                <serial type='file'>
                  <source path='\(serialLogPath(name))'/>
                </serial>
              </devices>
            </domain>
            """
    }

    /// Defines a domain from XML (through libvirt, as `sdn` does).
    @discardableResult
    public func define(_ xml: String) throws -> DomainDescription {
        try connection.define(xml: xml)
    }

    /// Where the domain's serial console is written.
    public func serialLogPath(_ name: String) -> String { directory + "/\(name).serial" }

    /// What the domain's serial console showed so far ("\r\n" as "\n").
    public func serialLog(_ name: String) -> String {
        ((try? String(contentsOfFile: serialLogPath(name), encoding: .utf8)) ?? "").replacingOccurrences(of: "\r\n", with: "\n")
    }

    /// Waits until the serial console shows a line containing `text`, and returns that line.
    /// - Throws: ``LibvirtLabError`` with the console's end when `timeout` passes first (a hung guest).
    @discardableResult
    public func waitForSerial(_ name: String, containing text: String, timeout: Duration = .seconds(120)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let log = serialLog(name)
            if let line = log.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            if ContinuousClock.now >= deadline {
                let tail = log.split(separator: "\n", omittingEmptySubsequences: false).suffix(30).joined(separator: "\n")
                throw LibvirtLabError(message: "domain \(name) did not print '\(text)' within \(timeout); its console ends with:\n\(tail)")
            }
            usleep(100_000)
        }
    }

    // MARK: - Leftovers

    private static let counter = Atomic<Int>(0)
    private static let staleRemoval = Mutex(false)

    /// Stops the daemons of lab directories whose test process is gone (a killed run), once per process.
    private static func removeStaleOnce() {
        staleRemoval.withLock { done in
            guard !done else { return }
            done = true
            let temporary = FileManager.default.temporaryDirectory.path
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where entry.hasPrefix("sdn-libvirt-") {
                let fields = entry.dropFirst("sdn-libvirt-".count).split(separator: "-")
                guard let pid = fields.first.flatMap({ Int32($0) }), kill(pid, 0) != 0, errno == ESRCH else { continue }
                _ = try? Shell.run(["bash", script, "stop", temporary + "/" + entry])
                try? FileManager.default.removeItem(atPath: temporary + "/" + entry)
            }
        }
    }
}

/// The lab could not start.
public struct LibvirtLabError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "libvirt lab: \(message)" }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where ``LibvirtLab`` works (root, libvirtd, virtlogd, virsh, QEMU, the kernel
    /// lab), and otherwise skips it with ``LibvirtLab/unavailableReason``.
    public static var libvirtLab: Self {
        let reason = LibvirtLab.unavailableReason
        return .enabled(if: reason == nil, reason.map { Comment(rawValue: $0) })
    }
}
