import ArgumentParser
import Foundation

/// `sdn guests`: every declared guest with its state and each NIC's port, from sdnd.
struct GuestsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guests",
        abstract: "List the declared guests: node, state (libvirt's, or inferred from their ports), each NIC's port, plugged or not, firewall loaded or not, packet counters.",
        discussion: "Exit status: 0 every running guest's ports are plugged with their firewall, 3 a running guest has a port that is not, 1 sdnd cannot be reached."
    )

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", "/v1/guests")
        let report = try session.decode(RemoteGuests.self, from: response)
        if session.output == .json {
            session.printJSON(response)
        } else {
            print(Self.render(report))
        }
        if report.guests.contains(where: { $0.isRunning && $0.ports.contains { !$0.attached || $0.firewall == "missing" } }) {
            throw ExitCode.changesPending
        }
    }

    static func portColumns(_ port: RemoteGuestPort) -> [String] {
        let plugged: String = port.attached ? "yes" : (port.present ? "present, not attached" : "no")
        var columns: [String] = ["\(port.name) (\(port.nic))", port.bridge ?? "-", plugged, port.firewall]
        if let counters = port.counters {
            let dropped: UInt64 = counters.receiveDropped + counters.sendDropped
            columns += [String(counters.receivedPackets), String(counters.sentPackets), String(dropped)]
        } else {
            columns += ["-", "-", "-"]
        }
        return columns
    }

    static func render(_ report: RemoteGuests) -> String {
        guard report.revision != nil else { return "node \(report.node) has applied no revision: no guests yet" }
        var table = TextTable(headers: ["GUEST", "NAME", "KIND", "NODE", "STATE", "PORT", "BRIDGE", "PLUGGED", "FIREWALL", "RX PKTS", "TX PKTS", "DROPPED"])
        for guest in report.guests {
            let state = guest.state + (guest.stateSource == "ports" ? "*" : "")
            let head = [String(guest.id), guest.name, guest.kind, guest.node, state]
            if guest.ports.isEmpty {
                table.rows.append(head + ["-", "-", "-", "-", "-", "-", "-"])
            }
            for (position, port) in guest.ports.enumerated() {
                table.rows.append((position == 0 ? head : Array(repeating: "", count: head.count)) + portColumns(port))
            }
        }
        var lines = ["node \(report.node), revision \(report.revision.map(String.init) ?? "none")", table.render()]
        if report.guests.contains(where: { $0.stateSource == "ports" }) {
            lines.append("* inferred from the guest's ports (running when one is present); sdnd reads KVM guests' states from libvirt when it can (sdnd --libvirt)")
        }
        lines.append("RX is what the guest sent, TX what it was sent, as the host's end of the port counts them.")
        return lines.joined(separator: "\n")
    }
}

/// `GuestsReport` as the client reads it.
struct RemoteGuests: Decodable {
    struct Guest: Decodable {
        var id: Int
        var name: String
        var kind: String
        var node: String
        var state: String
        var stateSource: String
        var ports: [RemoteGuestPort]
        var isRunning: Bool { state == "running" }
    }

    var node: String
    var revision: Int64?
    var guests: [Guest]
}
