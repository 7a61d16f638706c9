import ArgumentParser
import SDNConfig
import SDNModel

/// `sdn guest lxc-config VMID`: the lines of an LXC container's config that let sdnd plug its veths,
/// Proxmox's way: LXC makes the pair with our name and leaves the host end out of any bridge (no
/// `lxc.net.N.link`); the up hook asks sdnd to attach it with its firewall before the container's init.
struct GuestLXCConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lxc-config",
        abstract: "Print the lxc.net.* and lxc.hook.stop lines of an LXC guest's config.",
        discussion: "Paste them into the container's config (e.g. /var/lib/lxc/NAME/config) in place of its lxc.net.* lines. Containers started with lxc-start and lxc-execute both run the hooks."
    )

    // Before the configuration's paths: a positional after an array of positionals is refused by
    // ArgumentParser (the command would not run at all).
    @Argument(help: "The guest's vmid.") var vmid: Int

    @OptionGroup var input: ConfigInputOptions

    /// LXC runs a hook's value through `/bin/sh -c` with its arguments appended, so the hook can be the
    /// `sdn` command itself: nothing else to install.
    @Option(help: "The hook command LXC runs, arguments allowed (e.g. \"/usr/local/bin/sdn hook lxc --server unix:///run/sdn/sdnd.sock\").")
    var hook = "/usr/local/bin/sdn hook lxc"

    func run() throws {
        let state = try GuestConfiguration.load(input.paths)
        guard let guest = state.guests.first(where: { $0.id == vmid }) else {
            printError("sdn: guest \(vmid) is not declared; declare it under guests: in Topologies/ (kind: lxc)")
            throw ExitCode.badInput
        }
        guard guest.kind == .lxc else {
            printError("sdn: guest \(vmid) is a \(guest.kind.rawValue) guest; `sdn guest xml \(vmid)` prints its libvirt interfaces")
            throw ExitCode.badInput
        }
        print(Self.lines(for: guest, in: state, hook: hook).joined(separator: "\n"))
    }

    static func lines(for guest: Guest, in state: DesiredState, hook: String) -> [String] {
        var lines = ["# sdn: guest \(guest.id) (\(guest.name)) on node \(guest.node). No lxc.net.N.link: sdnd attaches each host end",
                     "# with its firewall before the container's init runs; a start fails if it cannot (the hook says why",
                     "# in LXC's log at level DEBUG: lxc-start -l DEBUG -o FILE; sdnd's audit log, GET /v1/audit, has it too)."]
        for (position, nic) in guest.nics.sorted(by: { $0.index < $1.index }).enumerated() {
            let prefix = "lxc.net.\(position)"
            lines.append("\(prefix).type = veth")
            lines.append("\(prefix).veth.pair = \(InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index))")
            lines.append("\(prefix).name = eth\(nic.index)")
            if let mac = nic.mac { lines.append("\(prefix).hwaddr = \(mac)") }
            if case .vnet(let name) = nic.attachment, let vnet = state.vnet(named: name),
               let mtu = vnet.mtu ?? state.zone(named: vnet.zone)?.mtu {
                lines.append("\(prefix).mtu = \(mtu.value)")
            }
            lines.append("\(prefix).flags = up")
            lines.append("\(prefix).script.up = \(hook) --guest \(guest.id)")
        }
        lines.append("lxc.hook.stop = \(hook) --guest \(guest.id)")
        return lines
    }
}
