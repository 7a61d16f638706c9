import ArgumentParser
import Foundation
import SDNConfig
import SDNGuests
import SDNModel

/// `sdn guest`: wiring guests to the ports `sdnd` prepares for them.
struct GuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Connect KVM and LXC guests to the ports sdnd prepares before they start.",
        discussion: """
            sdnd creates each KVM NIC's tap (tap<vmid>i<n>) with its bridge, VLAN and firewall before QEMU opens it; \
            the domain uses it as <interface type='ethernet'> with <target dev='tap<vmid>i<n>' managed='no'/>. \
            An LXC container names its veth's host end veth<vmid>i<n> and leaves it out of any bridge; its up hook asks sdnd to plug it.
            """,
        subcommands: [GuestXMLCommand.self, GuestAdoptCommand.self, GuestLXCConfigCommand.self, GuestPrepareCommand.self, GuestReleaseCommand.self]
    )
}

/// `sdn guest xml <vmid>`: the interface elements to paste into the domain's `<devices>`.
struct GuestXMLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xml",
        abstract: "Print a KVM guest's <interface> elements for its libvirt domain.",
        discussion: "Exit status: 0 printed; 1 no such KVM guest, or the configuration has errors; 2 unreadable input."
    )

    @Argument(help: "The guest's vmid.")
    var vmid: Int

    @OptionGroup var input: ConfigInputOptions

    func run() throws {
        let state = try GuestConfiguration.load(input.paths)
        do {
            print(try GuestInterfaceXML.render(guestID: vmid, in: state), terminator: "")
        } catch {
            printError("sdn: \(error.description)")
            throw ExitCode.failed
        }
    }
}

/// `sdn guest adopt <domain>`: rewrites a defined domain's bridge interfaces onto sdn's taps.
struct GuestAdoptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adopt",
        abstract: "Rewrite a libvirt domain's bridge interfaces to use the taps sdnd prepares.",
        discussion: """
            Each <interface type='bridge'> of the domain's persistent definition becomes <interface type='ethernet'> on \
            tap<vmid>i<n>, keeping its MAC, model, driver, PCI address and boot order; interfaces are matched to the \
            guest's NICs by MAC, else in order to the NICs that declare no MAC. Prints the diff, then defines the new XML \
            through libvirt (unless --dry-run). A running domain keeps its current NICs until it is shut down and started \
            again (a reboot inside the guest is not enough).
            Exit status: 0 adopted (or nothing to do); 1 an interface matches no NIC, libvirt refused, or the \
            configuration has errors; 2 unreadable input.
            """
    )

    @Argument(help: "The domain's name (with --xml: a file with its XML).")
    var domain: String

    @Option(help: "libvirt connection URI.")
    var uri = "qemu:///system"

    @Option(help: "The guest's vmid, when the domain's name and metadata do not carry it.")
    var vmid: Int?

    @Flag(help: "Read the domain's XML from the file <domain> and only print the diff.")
    var xml = false

    @Flag(help: "Print the diff without defining anything.")
    var dryRun = false

    @OptionGroup var input: ConfigInputOptions

    func run() throws {
        let state = try GuestConfiguration.load(input.paths)
        let connection: LibvirtConnection?
        let text: String
        do {
            if xml {
                connection = nil
                guard let data = FileManager.default.contents(atPath: domain), let contents = String(data: data, encoding: .utf8) else {
                    printError("sdn: \(domain): cannot read the file")
                    throw ExitCode.badInput
                }
                text = contents
            } else {
                let opened = try LibvirtConnection(uri: uri)
                connection = opened
                text = try opened.xml(ofDomain: domain, live: false)
            }
        } catch let error as LibvirtError {
            printError("sdn: \(error.description)")
            throw ExitCode.failed
        }

        let adoption: DomainAdoption
        let name: String
        do {
            let description = try DomainDescription(xml: text, source: xml ? domain : "domain \(domain)")
            name = description.name
            guard let id = vmid ?? description.vmid else {
                printError("sdn: domain \(description.name) carries no vmid (its name is not 101, vm101 or vm-101 and it has no <sdn:guest vmid=…> metadata)")
                printError("  hint: give it with --vmid N")
                throw ExitCode.failed
            }
            let guest = try GuestInterfaceXML.kvmGuest(id, in: state)
            adoption = try DomainAdoption.rewrite(xml: text, domainName: description.name, guest: guest, state: state)
        } catch let error as DomainXMLError {
            printError("sdn: \(error.description)")
            throw ExitCode.badInput
        } catch let error as GuestXMLError {
            printError("sdn: \(error.description)")
            throw ExitCode.failed
        }

        for note in adoption.unchanged { printError("note: \(note)") }
        guard !adoption.changes.isEmpty else {
            print("domain \(name): nothing to adopt (no bridge interfaces)")
            return
        }
        print(adoption.diff, terminator: "")
        for change in adoption.changes {
            let dropped = change.dropped.isEmpty ? "" : "; dropped " + change.dropped.joined(separator: "; ")
            printError("interface \(change.position) → net\(change.nicIndex) on \(change.tap) (matched by \(change.matchedBy))\(dropped)")
        }
        guard let connection, !dryRun else {
            printError(xml ? "not defined: the domain was read from a file" : "not defined (--dry-run)")
            return
        }
        do {
            try connection.define(xml: adoption.xml)
            let running = (try? connection.isActive(name)) ?? false
            print("defined domain \(name) on \(connection.uri)")
            if running {
                print("domain \(name) is running: it uses the new interfaces from its next start (shut it down and start it; a reboot inside the guest is not enough)")
            }
        } catch {
            printError("sdn: \(error)")
            throw ExitCode.failed
        }
    }
}

/// The validated configuration the guest commands read, or an exit with the errors printed.
enum GuestConfiguration {
    static func load(_ paths: [String]) throws -> DesiredState {
        let documents = try InputCollector.collectOrExit(paths)
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        guard let state = validated?.value else {
            let printer = DiagnosticPrinter(style: Style(enabled: false), documents: documents)
            for diagnostic in diagnostics where diagnostic.severity == .error { printError(printer.render(diagnostic)) }
            printError("sdn: the configuration has errors; run `sdn validate` for details")
            throw ExitCode.failed
        }
        return state
    }
}
