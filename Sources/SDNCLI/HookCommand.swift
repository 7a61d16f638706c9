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

/// LXC's `lxc.net.N.script.up` and `lxc.hook.stop`, with `--guest VMID` given in the config line. LXC
/// runs the line's value through `/bin/sh -c` with its own arguments appended, and waits: a hook that
/// fails aborts the start (its output goes to LXC's log at level DEBUG, so the message is said there).
struct LXCHook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lxc",
        abstract: "LXC's network up hook (plug the veth's host end with its firewall) and stop hook (remove what is left).",
        discussion: """
        `sdn guest lxc-config VMID` prints the config lines that name it. Both hook versions work:
        lxc.hook.version = 0 (the default) passes CONTAINER net up veth HOST-END and CONTAINER lxc stop …,
        version 1 passes the same in LXC_HOOK_SECTION, LXC_HOOK_TYPE and LXC_NET_PEER.
        """
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "The guest's vmid.")
    var guest: Int

    @Option(help: "How long to wait for sdnd, in seconds.")
    var timeout: Int = 60

    @Argument(parsing: .captureForPassthrough, help: "What LXC passes: CONTAINER net up veth HOST-END, or CONTAINER lxc stop (hook version 0).")
    var lxcArguments: [String] = []

    func run() throws {
        switch LXCHookCall(arguments: lxcArguments, environment: ProcessInfo.processInfo.environment) {
        case .netUp(type: let type, hostEnd: let hostEnd):
            guard type == "veth", let port = hostEnd else {
                printError("sdn hook lxc: guest \(guest): LXC named no veth host end (network type \(type ?? "unknown"), arguments \(lxcArguments.joined(separator: " "))); use lxc.net.N.type = veth and lxc.net.N.veth.pair = veth\(guest)iN (sdn guest lxc-config \(guest))")
                throw ExitCode.failed
            }
            let session = try daemon.session(output: .text)
            let report: RemoteGuestPorts
            do {
                report = try HookCall.post(session, "/v1/ports/\(port)/plug", timeout: timeout)
            } catch {
                printError("sdn hook lxc: guest \(guest): \(port) was not plugged, the container does not start: \(error)")
                throw ExitCode.failed
            }
            guard report.guest == guest else {
                printError("sdn hook lxc: \(port) belongs to guest \(report.guest), not \(guest): check lxc.net.N.veth.pair in the container's config")
                throw ExitCode.failed
            }
            printError("sdn hook lxc: guest \(guest): \(report.summary)")
        case .stop:
            let session = try daemon.session(output: .text)
            do {
                let report = try HookCall.post(session, "/v1/guests/\(guest)/ports/release", timeout: timeout)
                printError("sdn hook lxc: guest \(guest): \(report.summary)")
            } catch {
                printError("sdn hook lxc: guest \(guest)'s veths were not removed (\(error)); the kernel removes them with the container's namespace")
            }
        case .other:
            // Other hook types (net down, start, mount, …): nothing of ours.
            break
        }
    }
}

/// What LXC asks of the hook. Version 0 hooks (the default) get `CONTAINER SECTION TYPE …` as
/// arguments (net up: `… veth HOST-END`; stop: `… NAMESPACE-FDS`); version 1 hooks get the section and
/// type in the environment and only `veth HOST-END` (net up) or nothing (stop) as arguments. LXC 5.0
/// sets LXC_NET_PEER for version 1 only.
enum LXCHookCall: Equatable {
    /// `lxc.net.N.script.up`: the network type and the host end LXC made (nil when it named none).
    case netUp(type: String?, hostEnd: String?)
    /// `lxc.hook.stop` or `lxc.hook.post-stop`.
    case stop
    case other

    init(arguments: [String], environment: [String: String]) {
        let nonEmpty = { (key: String) in environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        let section: String?, type: String?, rest: ArraySlice<String>
        if let environmentSection = nonEmpty("LXC_HOOK_SECTION"), let environmentType = nonEmpty("LXC_HOOK_TYPE") {
            (section, type, rest) = (environmentSection, environmentType, arguments[...])
        } else if arguments.count >= 3 {
            (section, type, rest) = (arguments[1], arguments[2], arguments.dropFirst(3))
        } else {
            self = .other
            return
        }
        switch (section, type) {
        case ("net", "up"):
            let networkType = nonEmpty("LXC_NET_TYPE") ?? rest.first
            let hostEnd = nonEmpty("LXC_NET_PEER") ?? (rest.count >= 2 ? rest[rest.startIndex + 1] : nil)
            self = .netUp(type: networkType, hostEnd: hostEnd)
        case ("lxc", "stop"), ("lxc", "post-stop"):
            self = .stop
        default:
            self = .other
        }
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

/// `GuestPortState` as the client reads it (the hooks' reports and `sdn guests`).
struct RemoteGuestPort: Decodable {
    struct Counters: Decodable {
        var receivedPackets: UInt64
        var sentPackets: UInt64
        var receiveDropped: UInt64
        var sendDropped: UInt64
    }

    var name: String
    var nic: String
    var bridge: String?
    var present: Bool
    var attached: Bool
    var firewall: String
    var created: Bool
    var counters: Counters?
}

/// `GuestPortsReport` as the client reads it.
struct RemoteGuestPorts: Decodable {

    var node: String
    var guest: Int
    var kind: String
    var operation: String
    var revision: Int64?
    var ports: [RemoteGuestPort]
    var milliseconds: Double

    var summary: String {
        let ports = ports.map { "\($0.name) → \($0.bridge ?? "?") (firewall \($0.firewall))" }.joined(separator: ", ")
        return "\(operation) \(ports.isEmpty ? "nothing" : ports) in \(String(format: "%.1f", milliseconds)) ms (revision \(revision.map(String.init) ?? "none"))"
    }
}
