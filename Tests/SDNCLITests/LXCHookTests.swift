import Foundation
@testable import SDNCLI
import SDNTesting
import Testing

/// What LXC 5.0 (Debian 12) passes to `lxc.net.N.script.up` and `lxc.hook.stop`, as recorded from real
/// containers (LXCGuestEndToEndTests runs them), read by the hook; and the config lines
/// `sdn guest lxc-config` prints for it.
@Suite struct LXCHookTests {
    // MARK: hook version 0 (LXC's default): everything in the arguments

    @Test func version0NetUpNamesTheHostEndAsTheLastArgument() {
        // LXC_NET_PEER is not set for version 0 hooks.
        let call = LXCHookCall(arguments: ["ct201", "net", "up", "veth", "veth201i0"],
                               environment: ["LXC_HOOK_VERSION": "0", "LXC_NAME": "ct201"])
        #expect(call == .netUp(type: "veth", hostEnd: "veth201i0"))
    }

    @Test func version0StopComesWithTheNamespacesOfTheContainer() {
        let call = LXCHookCall(arguments: ["ct201", "lxc", "stop", "mnt:/proc/1197/fd/17", "pid:/proc/1197/fd/18", "net:/proc/1197/fd/21"],
                               environment: ["LXC_HOOK_VERSION": "0", "LXC_TARGET": "stop"])
        #expect(call == .stop)
        #expect(LXCHookCall(arguments: ["ct201", "lxc", "post-stop"], environment: [:]) == .stop)
    }

    @Test func otherHooksAreNoneOfOurs() {
        #expect(LXCHookCall(arguments: ["ct201", "net", "down", "veth", "veth201i0"], environment: [:]) == .other)
        #expect(LXCHookCall(arguments: ["ct201", "lxc", "start"], environment: [:]) == .other)
        #expect(LXCHookCall(arguments: [], environment: [:]) == .other)
    }

    @Test func aNetUpOfAnotherTypeSaysSo() {
        let macvlan = LXCHookCall(arguments: ["ct201", "net", "up", "macvlan", "mc0"], environment: [:])
        #expect(macvlan == .netUp(type: "macvlan", hostEnd: "mc0"))
        #expect(LXCHookCall(arguments: ["ct201", "net", "up"], environment: [:]) == .netUp(type: nil, hostEnd: nil))
    }

    // MARK: hook version 1: the section and type in the environment

    @Test func version1NetUpReadsTheEnvironment() {
        let environment = ["LXC_HOOK_VERSION": "1", "LXC_HOOK_SECTION": "net", "LXC_HOOK_TYPE": "up",
                           "LXC_NET_TYPE": "veth", "LXC_NET_PEER": "veth201i0", "LXC_NET_PARENT": ""]
        #expect(LXCHookCall(arguments: ["veth", "veth201i0"], environment: environment) == .netUp(type: "veth", hostEnd: "veth201i0"))
    }

    @Test func version1StopHasNoArguments() {
        // LXC 5.0 leaves the last NIC's LXC_NET_* in the stop hook's environment: the section decides.
        let environment = ["LXC_HOOK_VERSION": "1", "LXC_HOOK_SECTION": "lxc", "LXC_HOOK_TYPE": "stop",
                           "LXC_NET_TYPE": "veth", "LXC_NET_PEER": "veth201i0"]
        #expect(LXCHookCall(arguments: [], environment: environment) == .stop)
    }

    // MARK: sdn guest lxc-config

    func sdn(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests (run `swift build` first)")
        return try Shell.run([binary] + arguments)
    }

    @Test func lxcConfigNamesTheSdnCommandAsTheHook() throws {
        let result = try sdn(["guest", "lxc-config", "103", "--config", GuestCommandTests.fixtures + "/config"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        #expect(lines == [
            "lxc.net.0.type = veth",
            "lxc.net.0.veth.pair = veth103i0",
            "lxc.net.0.name = eth0",
            "lxc.net.0.hwaddr = 52:54:00:00:01:03",
            "lxc.net.0.mtu = 1450",
            "lxc.net.0.flags = up",
            "lxc.net.0.script.up = /usr/local/bin/sdn hook lxc --guest 103",
            "lxc.hook.stop = /usr/local/bin/sdn hook lxc --guest 103",
        ], "\(result.stdout)")
        #expect(!result.stdout.contains("lxc.net.0.link"), "no link: sdnd attaches the host end")

        let custom = try sdn(["guest", "lxc-config", "103", "--config", GuestCommandTests.fixtures + "/config",
                              "--hook", "/opt/sdn/bin/sdn hook lxc --server unix:///run/sdn/sdnd.sock"])
        #expect(custom.stdout.contains("lxc.net.0.script.up = /opt/sdn/bin/sdn hook lxc --server unix:///run/sdn/sdnd.sock --guest 103\n"))
    }
}
