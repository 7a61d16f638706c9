import Foundation
import SDNTesting
import Testing

/// `sdn hook` and `sdn guest lxc-config` as libvirt, LXC and a user run them, without a daemon: what
/// passes untouched, what fails (and so stops a guest's start), and the config lines. (With sdnd and
/// real guests: `KVMGuestEndToEndTests`, `LXCGuestEndToEndTests`.)
@Suite struct HookCommandTests {
    static let config = GuestCommandTests.fixtures + "/config"
    /// Nothing listens there: a hook that needs sdnd fails, one that does not never notices.
    static let nobody = "unix:///nonexistent/sdnd.sock"

    func hook(_ arguments: [String], stdin: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests (run `swift build` first)")
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString).xml")
        try stdin.write(to: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: input) }
        let quoted = ([binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        return try Shell.run(["sh", "-c", quoted + " < '\(input.path)'"])
    }

    static func domain(_ interfaces: String) -> String {
        "<domain type='qemu'><name>vm</name><devices>\(interfaces)</devices></domain>"
    }

    static let sdnTap = "<interface type='ethernet'><mac address='52:54:00:00:01:01'/><target dev='tap101i0' managed='no'/><model type='virtio'/></interface>"

    @Test func aDomainWithoutSdnTapsPassesUntouchedEvenWithoutSdnd() throws {
        let bridged = Self.domain("<interface type='bridge'><source bridge='br0'/><target dev='vnet3'/></interface><interface type='ethernet'><target dev='mytap'/></interface>")
        let result = try hook(["hook", "qemu", "--server", Self.nobody, "vm", "prepare", "begin", "-"], stdin: bridged)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
    }

    @Test func aDomainWithAnSdnTapDoesNotStartWithoutSdnd() throws {
        let result = try hook(["hook", "qemu", "--server", Self.nobody, "--timeout", "2", "vm", "prepare", "begin", "-"], stdin: Self.domain(Self.sdnTap))
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stderr.contains("nonexistent/sdnd.sock"), "\(result.stderr)")
    }

    @Test func operationsOtherThanPrepareAndReleaseAreNotOurs() throws {
        for operation in [["started", "begin"], ["stopped", "end"], ["reconnect", "begin"]] {
            let result = try hook(["hook", "qemu", "--server", Self.nobody, "vm"] + operation + ["-"], stdin: Self.domain(Self.sdnTap))
            #expect(result.status == 0, "\(operation): \(result.stderr)")
        }
        // A release sdnd cannot answer must not keep a stopped domain from stopping.
        let release = try hook(["hook", "qemu", "--server", Self.nobody, "--timeout", "2", "vm", "release", "end", "-"], stdin: Self.domain(Self.sdnTap))
        #expect(release.status == 0)
        #expect(release.stderr.contains("guest 101's taps were not removed"), "\(release.stderr)")
    }

    @Test func aDomainXMLThatDoesNotParseStopsTheStart() throws {
        let result = try hook(["hook", "qemu", "--server", Self.nobody, "vm", "prepare", "begin", "-"], stdin: "<domain><devices>")
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot read the domain XML"), "\(result.stderr)")
    }

    @Test func lxcConfigPrintsTheLinesThatNameTheHook() throws {
        let binary = try #require(SDNExecutableTests.binary)
        let result = try Shell.run([binary, "guest", "lxc-config", "103", "--config", Self.config, "--hook", "/opt/sdn/lxc-hook"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("lxc.net.0.type = veth\nlxc.net.0.veth.pair = veth103i0\n"), "\(result.stdout)")
        #expect(result.stdout.contains("lxc.net.0.script.up = /opt/sdn/lxc-hook --guest 103"))
        #expect(result.stdout.contains("lxc.hook.stop = /opt/sdn/lxc-hook --guest 103"))
        #expect(!result.stdout.split(separator: "\n").contains { $0.hasPrefix("lxc.net.0.link") }, "the host end is plugged by sdnd, not by LXC")
        let kvm = try Shell.run([binary, "guest", "lxc-config", "101", "--config", Self.config])
        #expect(kvm.status == 2 && kvm.stderr.contains("sdn guest xml 101"), "\(kvm.stderr)")
    }
}
