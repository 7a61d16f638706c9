import Foundation
import SDNGuests
import SDNModel
import SDNNetns
import SDNTesting
import Testing

/// The libvirt side against a real, private libvirtd in a test namespace (LibvirtLab): QEMU domains
/// under TCG booting the kernel lab's kernel.
@Suite(.serialized) struct LibvirtSystemTests {
    /// A domain that is only defined (it never boots), with the lab's image paths.
    func plainDomain(_ lab: LibvirtLab, name: String, vmid: Int? = nil, interfaces: [LibvirtLab.Interface] = []) throws -> String {
        let image = KernelLab.Image(kernel: "/nonexistent/vmlinux", initrd: "/nonexistent/initrd", release: "", package: "")
        return lab.domainXML(name: name, image: image, interfaces: interfaces, vmid: vmid)
    }

    @Test(.libvirtLab) func listsReadsAndDefinesDomainsWithLibvirtsOwnErrors() throws {
        try withTemporaryNetworkNamespace { namespace in
            let lab = try LibvirtLab(namespace: namespace)
            defer { lab.stop() }
            let connection = lab.connection
            #expect(try connection.domains().isEmpty)

            let defined = try lab.define(plainDomain(lab, name: "web1", vmid: 101, interfaces: [.init(mac: "52:54:00:00:01:01", tap: "tap101i0")]))
            #expect(defined.name == "web1")
            #expect(defined.vmid == 101)
            #expect(defined.vmidSource == .metadata)
            #expect(defined.interfaces.map(\.targetDevice) == ["tap101i0"])
            #expect(defined.interfaces.first?.targetManaged == false)
            #expect(defined.uuid.count == 36, "libvirt gave it a UUID")

            try lab.define(plainDomain(lab, name: "vm-102"))
            let listed = try connection.domains()
            #expect(listed.map(\.name) == ["vm-102", "web1"])
            #expect(listed.map(\.vmid) == [102, 101])
            #expect(try connection.domain(uuid: defined.uuid).name == "web1")
            #expect(try connection.xml(ofDomain: "web1").contains("<target dev='tap101i0' managed='no'/>"))
            #expect(try connection.isActive("web1") == false)

            // libvirt's own messages, with a code to act on.
            do {
                _ = try connection.xml(ofDomain: "nope")
                Issue.record("an unknown domain was found")
            } catch let error as LibvirtError {
                #expect(error.code == .noDomain)
                #expect(error.message.contains("nope"), "\(error)")
            }
            do {
                try connection.define(xml: "<domain type='qemu'><name>bad</name><memory>x</memory></domain>")
                Issue.record("invalid XML was defined")
            } catch let error as LibvirtError {
                #expect(error.code == .invalidXML, "\(error)")
                #expect(!error.message.isEmpty)
            }
            #expect(try connection.domains().count == 2, "a refused definition changes nothing")
        }
    }

    @Test(.libvirtLab) func aMissingDaemonIsAConnectionError() {
        do {
            _ = try LibvirtConnection(uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("/nonexistent/libvirt-sock"), "\(error)")
        }
    }

    @Test(.libvirtLab) func eventsFollowDefineStartHotPlugDestroyAndUndefine() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let lab = try LibvirtLab(namespace: namespace)
            defer { lab.stop() }
            for tap in ["tap101i0", "tap101i1"] {
                try Shell.output(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], in: namespace)
            }
            let image = try lab.makeGuestImage()
            let events = try lab.connection.events()
            let collector = Task {
                var seen: [DomainEvent] = []
                for await event in events {
                    seen.append(event)
                    if case .lifecycle(_, .undefined) = event { break }
                }
                return seen
            }
            // A bound against a hang (the assertions below say what was missing), not a timing check.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(120))
                collector.cancel()
            }
            defer { watchdog.cancel() }

            try lab.define(lab.domainXML(name: "vm101", image: image, interfaces: [.init(mac: "52:54:00:00:01:01", tap: "tap101i0")],
                                         settings: ["ip": "10.0.0.2/24"]))
            try lab.connection.start("vm101")
            try lab.connection.attachDevice(LibvirtLab.Interface(mac: "52:54:00:00:01:02", tap: "tap101i1").xml, to: "vm101", scope: .live)
            let live = try lab.connection.domain(named: "vm101", live: true)
            #expect(live.interfaces.map(\.targetDevice) == ["tap101i0", "tap101i1"])
            let alias = try #require(live.interfaces.last?.alias)
            try lab.connection.destroy("vm101")
            try lab.connection.undefine("vm101")

            let seen = await collector.value
            let kinds = seen.filter { $0.domain.name == "vm101" }.map { event -> String in
                switch event {
                case .lifecycle(_, let lifecycle): "\(lifecycle)"
                case .deviceAdded(_, let added): "added \(added)"
                case .deviceRemoved(_, let removed): "removed \(removed)"
                case .rebooted: "rebooted"
                }
            }
            let expected = ["defined", "started", "added \(alias)", "stopped (destroyed)", "undefined"]
            // In this order, whatever else libvirt sends between them (e.g. resumed).
            var remaining = expected[...]
            for kind in kinds where kind == remaining.first { remaining = remaining.dropFirst() }
            #expect(remaining.isEmpty, "missing \(Array(remaining)) in \(kinds)")
            #expect(Set(seen.map(\.domain.uuid)).count == 1)
        }
    }

    @Test(.libvirtLab) func anEthernetDomainOnAPreCreatedTapBootsAndAnswersPingAndTCP() throws {
        try withTemporaryNetworkNamespace { namespace in
            let lab = try LibvirtLab(namespace: namespace)
            defer { lab.stop() }
            // What sdnd does before QEMU starts: the tap exists, in the bridge, up.
            try Shell.output(["ip", "link", "add", "br0", "type", "bridge"], in: namespace)
            try Shell.output(["ip", "address", "add", "10.0.0.1/24", "dev", "br0"], in: namespace)
            try Shell.output(["ip", "link", "set", "br0", "up"], in: namespace)
            try Shell.output(["ip", "tuntap", "add", "dev", "tap101i0", "mode", "tap"], in: namespace)
            try Shell.output(["ip", "link", "set", "tap101i0", "master", "br0", "up"], in: namespace)

            let image = try lab.makeGuestImage()
            try lab.define(lab.domainXML(name: "vm101", image: image, interfaces: [.init(mac: "52:54:00:00:01:01", tap: "tap101i0")],
                                         settings: ["ip": "10.0.0.2/24", "first": "ping:10.0.0.1"], vmid: 101))
            let started = ContinuousClock.now
            try lab.connection.start("vm101")
            try lab.waitForSerial("vm101", containing: "=== GUEST SERVING")
            print("vm101: start → serving in \(ContinuousClock.now - started)")

            // QEMU used our tap as it was: still in br0, and no other tap appeared.
            let live = try lab.connection.domain(named: "vm101", live: true)
            #expect(live.interfaces.map(\.targetDevice) == ["tap101i0"])
            let master = try Shell.output(["ip", "-j", "link", "show", "tap101i0"], in: namespace)
            #expect(master.contains("\"master\":\"br0\""), "\(master)")
            #expect(try lab.waitForSerial("vm101", containing: "=== GUEST NET").contains("52:54:00:00:01:01"))
            #expect(try lab.waitForSerial("vm101", containing: "=== GUEST FIRST ping:10.0.0.1").hasSuffix("rc=0 ==="), "the guest's first packet reached the bridge")

            let ping = try Shell.run(["ping", "-c", "1", "-W", "5", "10.0.0.2"], in: namespace)
            #expect(ping.status == 0, "\(ping.stdout)")
            let tcp = try Shell.run(["nc", "-w", "5", "10.0.0.2", "7000"], in: namespace)
            #expect(tcp.stdout.hasPrefix("hello from 10.0.0.2"), "\(tcp)")
        }
    }

    @Test(.libvirtLab) func theQemuHookRunsPrepareBeforeQEMUAndReleaseAfter() throws {
        try withTemporaryNetworkNamespace { namespace in
            let log = FileManager.default.temporaryDirectory.path + "/sdn-hook-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
            defer { try? FileManager.default.removeItem(atPath: log) }
            // What the hook sees: its arguments, and whether the domain's tap exists then.
            let lab = try LibvirtLab(namespace: namespace, hooks: ["qemu": """
                #!/bin/sh
                echo "$1 $2 $3 $4 tap=$(test -e /sys/class/net/tap101i0 && echo yes || echo no)" >>\(log)
                cat >/dev/null
                """])
            defer { lab.stop() }
            try Shell.output(["ip", "tuntap", "add", "dev", "tap101i0", "mode", "tap"], in: namespace)
            try lab.define(lab.domainXML(name: "vm101", image: try lab.makeGuestImage(), interfaces: [.init(mac: "52:54:00:00:01:01", tap: "tap101i0")]))
            try lab.connection.start("vm101")
            try lab.connection.destroy("vm101")
            let calls = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(calls == [
                "vm101 prepare begin - tap=yes", "vm101 start begin - tap=yes", "vm101 started begin - tap=yes",
                "vm101 stopped end - tap=yes", "vm101 release end - tap=yes",
            ])
        }
    }
}
