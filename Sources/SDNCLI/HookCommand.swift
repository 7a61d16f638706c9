import ArgumentParser
import Foundation
import SDNGuests
import SDNModel

/// `sdn hook`: what libvirt and LXC run on the host when a guest starts and stops. A guest does not
/// start until sdnd says its ports are attached with their firewall: a hook that fails stops the start
/// (libvirt refuses the domain, LXC aborts the container), so no frame ever passes unfiltered.
struct HookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "The libvirt qemu hook and the LXC network hooks (run by libvirt and LXC, not by hand).",
        discussion: """
        Installed as /etc/libvirt/hooks/qemu.d/sdn (libvirt ≥ 6.5 runs every script there) and named in a
        container's config by `sdn guest lxc-config VMID`. They ask sdnd over its socket (--server or
        $SDN_SERVER, default \(ServerAddress.defaultURL)) and wait for the answer.
        """,
        subcommands: [QemuHook.self, LXCHook.self]
    )
}

/// libvirt's `/etc/libvirt/hooks/qemu DOMAIN OPERATION SUB-OPERATION EXTRA` with the domain XML on
/// standard input. It must not call back into libvirt (libvirtd waits for it: a deadlock).
struct QemuHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu",
        abstract: "libvirt's qemu hook: prepare a domain's sdn taps before QEMU starts, remove them after it stopped.",
        discussion: """
        Acts on the domain's <interface type='ethernet'> elements whose <target dev='tap<vmid>i<n>'
        managed='no'/> names an sdn port (`sdn guest xml VMID` prints them); a domain without one is none
        of sdn's business and passes untouched, even when sdnd is down.
        prepare/begin, migrate/begin (on the target node) and restore/begin: sdnd makes the taps, attaches
        them with their firewall, and the hook exits 0 only then. release/end: sdnd removes them.
        """
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "How long to wait for sdnd, in seconds.")
    var timeout: Int = 60

    @Argument(help: "The domain's name.") var domain: String
    @Argument(help: "prepare, start, started, stopped, release, migrate, restore, reconnect, attach.") var operation: String
    @Argument(help: "begin or end.") var subOperation: String
    @Argument(help: "Extra argument (libvirt passes '-').") var extra: String = "-"

    func run() throws {
        let startOperations: Set<String> = ["prepare/begin", "migrate/begin", "restore/begin"]
        let key = "\(operation)/\(subOperation)"
        guard startOperations.contains(key) || key == "release/end" else { return }
        let xml = FileHandle.standardInput.readDataToEndOfFile()
        let guests: [Int]
        do {
            guests = try DomainPorts.guests(inDomainXML: xml)
        } catch {
            printError("sdn hook: domain \(domain): cannot read the domain XML libvirt passed: \(error)")
            throw ExitCode.failed
        }
        if guests.isEmpty { return }
        let session = try daemon.session(output: .text)
        for guest in guests {
            if key == "release/end" {
                // A stopped domain must not be kept from stopping: say what failed, and let the next
                // prepare (or `sdn guest release`) clean up.
                do {
                    _ = try HookCall.post(session, "/v1/guests/\(guest)/ports/release", timeout: timeout)
                } catch {
                    printError("sdn hook: domain \(domain): guest \(guest)'s taps were not removed (sdnd at \(session.server)); they are removed at its next start")
                }
                continue
            }
            let report = try HookCall.post(session, "/v1/guests/\(guest)/ports/prepare", timeout: timeout)
            printError("sdn hook: domain \(domain): guest \(guest): \(report.summary)")
        }
    }
}

/// LXC's `lxc.net.N.script.up` (`… CONTAINER net up veth HOST-END`) and `lxc.hook.stop`
/// (`… CONTAINER lxc stop`), with `--guest VMID` given in the config line.
struct LXCHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lxc",
        abstract: "LXC's network up hook (plug the veth's host end with its firewall) and stop hook (remove what is left).",
        discussion: "`sdn guest lxc-config VMID` prints the config lines that name it."
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "The guest's vmid.")
    var guest: Int

    @Option(help: "How long to wait for sdnd, in seconds.")
    var timeout: Int = 60

    @Argument(parsing: .captureForPassthrough, help: "What LXC passes: CONTAINER net up veth HOST-END, or CONTAINER lxc stop.")
    var lxcArguments: [String] = []

    func run() throws {
        let session = try daemon.session(output: .text)
        let words = lxcArguments
        if words.count >= 3, words[1] == "net", words[2] == "up" {
            // The host end is the last argument (LXC_NET_PEER says the same).
            guard let port = ProcessInfo.processInfo.environment["LXC_NET_PEER"].flatMap({ $0.isEmpty ? nil : $0 }) ?? (words.count >= 5 ? words.last : nil) else {
                printError("sdn hook lxc: guest \(guest): LXC named no host interface (\(words.joined(separator: " "))); use lxc.net.N.type = veth")
                throw ExitCode.failed
            }
            let report = try HookCall.post(session, "/v1/ports/\(port)/plug", timeout: timeout)
            guard report.guest == guest else {
                printError("sdn hook lxc: \(port) belongs to guest \(report.guest), not \(guest): check lxc.net.N.veth.pair in the container's config")
                throw ExitCode.failed
            }
            printError("sdn hook lxc: guest \(guest): \(report.summary)")
        } else if words.count >= 3, words[1] == "lxc", ["stop", "post-stop"].contains(words[2]) {
            do {
                _ = try HookCall.post(session, "/v1/guests/\(guest)/ports/release", timeout: timeout)
            } catch {
                printError("sdn hook lxc: guest \(guest)'s veths were not removed; the kernel removes them with the container's namespace")
            }
        }
        // Other hook types: nothing of ours.
    }
}

/// The hooks' requests: one POST whose answer is the ports' report.
enum HookCall {
    static func post(_ session: DaemonSession, _ path: String, timeout: Int) throws -> RemoteGuestPorts {
        let response = try session.call("POST", path, body: Data("{}".utf8), headers: [("Content-Type", "application/json")],
                                        timeout: .seconds(max(1, timeout)))
        return try session.decode(RemoteGuestPorts.self, from: response)
    }
}

/// What the hooks read of a domain: the sdn ports it opens (`<interface type='ethernet'>` with
/// `<target dev='tap<vmid>i<n>' managed='no'/>`), as the guests they belong to.
enum DomainPorts {
    static func guests(inDomainXML data: Data) throws -> [Int] {
        let domain = try DomainDescription(xml: String(decoding: data, as: UTF8.self), source: "the domain XML on standard input")
        var guests: [Int] = []
        for interface in domain.interfaces where interface.type == "ethernet" {
            guard let name = interface.targetDevice, let guest = guest(ofTap: name), !guests.contains(guest) else { continue }
            guests.append(guest)
        }
        return guests
    }

    /// 101 of `tap101i0`.
    static func guest(ofTap name: String) -> Int? {
        guard let port = InterfaceNaming.guestPort(named: name), port.kind == .kvm else { return nil }
        return port.guestID
    }
}

/// `GuestPortsReport` as the client reads it.
struct RemoteGuestPorts: Decodable {
    struct Port: Decodable {
        var name: String
        var nic: String
        var bridge: String?
        var present: Bool
        var attached: Bool
        var firewall: String
        var created: Bool
    }

    var node: String
    var guest: Int
    var kind: String
    var operation: String
    var revision: Int64?
    var ports: [Port]
    var milliseconds: Double

    var summary: String {
        let ports = ports.map { "\($0.name) → \($0.bridge ?? "?") (firewall \($0.firewall))" }.joined(separator: ", ")
        return "\(operation) \(ports.isEmpty ? "nothing" : ports) in \(String(format: "%.1f", milliseconds)) ms (revision \(revision.map(String.init) ?? "none"))"
    }
}
