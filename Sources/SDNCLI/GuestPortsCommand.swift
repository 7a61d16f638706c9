import ArgumentParser
import Foundation

/// `sdn guest prepare|release VMID`: what the libvirt hook asks sdnd, by hand (a tap for `virsh
/// attach-device`, a cleanup after a hypervisor that died without its release hook).
struct GuestPrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Make a KVM guest's taps and attach them with their firewall now (as its libvirt hook does before QEMU starts)."
    )

    @OptionGroup var client: ClientOptions
    @Argument(help: "The guest's vmid.") var vmid: Int

    func run() throws {
        try GuestPortsCall.run(client, path: "/v1/guests/\(vmid)/ports/prepare")
    }
}

struct GuestReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Remove what is left of a guest's taps and veths on this node (as its libvirt or LXC stop hook does)."
    )

    @OptionGroup var client: ClientOptions
    @Argument(help: "The guest's vmid.") var vmid: Int

    func run() throws {
        try GuestPortsCall.run(client, path: "/v1/guests/\(vmid)/ports/release")
    }
}

enum GuestPortsCall {
    static func run(_ client: ClientOptions, path: String) throws {
        let session = try client.session()
        let response = try session.call("POST", path, body: Data("{}".utf8), headers: [("Content-Type", "application/json")])
        if session.output == .json {
            session.printJSON(response)
            return
        }
        let report = try session.decode(RemoteGuestPorts.self, from: response)
        print("guest \(report.guest) on node \(report.node): \(report.summary)")
    }
}
