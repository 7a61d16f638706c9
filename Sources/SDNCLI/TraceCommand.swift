import ArgumentParser
import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables

/// `sdn trace`: follow one packet through the compiled ruleset, hook by hook and rule by rule, without
/// root or kernel.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show every hook, chain and rule a packet meets, the policy line behind each, and the verdict.",
        discussion: """
            The packet takes the kernel's path through the node: bridged within a bridge, routed between vnets \
            or to and from the outside, delivered to the node's own addresses, or sent by the node. A guest on \
            a bridge the node has no address on (vlan, qinq, vxlan vnets, plain uplink bridges) is bridged out \
            of that bridge's port to the router beyond and back in the same way. Every hook it passes is \
            listed in the kernel's order, with the packet as that hook sees it.

            Examples:
              sdn trace --from 101/net0 --to 10.20.0.11 tcp/5432
              sdn trace --from 203.0.113.7 --to web1 tcp/443 site/Topologies site/Policies
              sdn trace --from node --to 101 tcp/22 --state established
              sdn trace --from 101 --to fd61::10 ping

            A forged source address or MAC (what anti-spoofing is for), and an address
            the receiving NIC does not declare:
              sdn trace --from 101/net0 --src-ip 10.10.0.99 --to 102 ping
              sdn trace --from 101/net0 --src-mac 52:54:00:00:09:99 --to 102 ping
              sdn trace --from 102 --to 101/net0 --dst-ip 10.10.0.50 tcp/80
            """
    )

    @Argument(help: ArgumentHelp("What is sent — tcp/PORT, udp/PORT, icmp[/TYPE], icmpv6[/TYPE], ping (ICMP or ICMPv6 as the addresses say), or a protocol — then, optionally, YAML files or directories to read (default: Topologies/ and Policies/).",
                                 valueName: "service-and-paths"))
    var arguments: [String] = []

    @Option(name: .customLong("config"), help: ArgumentHelp("A YAML file or directory to read (repeatable).", valueName: "path"))
    var configPaths: [String] = []

    @Option(help: "Sender: a guest (ID, ID/netN, or NAME/netN), `node`, a bridge port (PORT@VNET, e.g. an undeclared tap999i0@web), or an address.")
    var from: String

    @Option(help: "Receiver: a guest, `node`, a bridge port (PORT@VNET, with --dst-ip), or an address.")
    var to: String

    @Option(name: .customLong("src-ip"), help: "Send from this address (a forged or undeclared source of the --from NIC, or the node's source address).")
    var sourceAddress: String?

    @Option(name: .customLong("src-mac"), help: "Send from this MAC (a forged MAC of the --from NIC or port).")
    var sourceMAC: String?

    @Option(name: .customLong("dst-ip"), help: "Deliver to this address of the --to NIC or port (one it does not declare).")
    var destinationAddress: String?

    @Option(help: "Connection state of the packet: new, established, related or invalid.")
    var state: String = "new"

    @Option(help: "The node whose ruleset to trace (default: the only node).")
    var node: String?

    @OptionGroup var kernel: KernelOptions

    @Option(name: [.short, .long], help: "text or json.")
    var output: OutputFormat = .text

    @Option(help: "Colour: auto, always or never.")
    var color: ColorMode = .auto

    /// The service, and the configuration paths among the arguments: a service may come before or
    /// after them, so an argument naming an existing file or directory is a path.
    func splitArguments() throws -> (service: String, paths: [String]) {
        var paths: [String] = []
        var others: [String] = []
        for argument in arguments {
            if FileManager.default.fileExists(atPath: argument) { paths.append(argument) } else { others.append(argument) }
        }
        guard others.count == 1, let service = others.first else {
            if others.isEmpty {
                printError("sdn: name what is sent, e.g. tcp/22, udp/53, ping, icmpv6")
            } else {
                printError("sdn: '\(others.dropFirst().first!)': no such file or directory, and '\(others[0])' is already what is sent")
            }
            throw ExitCode.badInput
        }
        return (service, paths + configPaths)
    }

    func run() async throws {
        let (serviceText, paths) = try splitArguments()
        let (validated, nodeName) = try loadForNode(paths: paths, node: node)
        let desired = validated.value
        guard let connectionState = Packet.ConnectionState(rawValue: state) else {
            printError("sdn: '\(state)' is not a connection state; use new, established, related or invalid")
            throw ExitCode.badInput
        }
        func parsed<T>(_ text: String?, _ what: String, _ parse: (String) throws -> T) throws -> T? {
            guard let text else { return nil }
            do { return try parse(text) } catch {
                printError("sdn: '\(text)' is not \(what)")
                throw ExitCode.badInput
            }
        }
        let forgedSource = try parsed(sourceAddress, "an IP address (--src-ip)") { try IPAddress($0) }
        let forgedMAC = try parsed(sourceMAC, "a MAC address (--src-mac)") { try MACAddress($0) }
        let otherDestination = try parsed(destinationAddress, "an IP address (--dst-ip)") { try IPAddress($0) }
        let (features, origin) = await kernel.resolve()
        let path: TraceScenario.Path
        do {
            path = try TraceScenario.path(from: try .parse(from, in: desired), to: try .parse(to, in: desired), service: try .parse(serviceText),
                                          state: connectionState, in: desired, node: nodeName, features: features,
                                          sourceAddress: forgedSource, sourceMAC: forgedMAC, destinationAddress: otherDestination)
        } catch {
            printError("sdn: \(error.description)")
            throw ExitCode.badInput
        }
        let ruleset = await FirewallCompiler.compile(validated, node: nodeName, features: features).ruleset
        let interpreter = PacketInterpreter(ruleset: ruleset)
        var traces: [(TraceScenario.Leg, Trace)] = []
        var final: PacketVerdict = .accept
        for leg in path.legs {
            let trace: Trace
            do { trace = try interpreter.trace(leg.packet, at: leg.hook) } catch {
                printError("sdn: cannot evaluate the ruleset: \(error)")
                throw ExitCode.failed
            }
            traces.append((leg, trace))
            if trace.verdict != .accept {
                final = trace.verdict
                break
            }
        }
        // A path cut short by a drop is complete; one that ends at an unknown port is not.
        let incomplete = final == .accept ? path.incomplete : nil
        let layout = features.guestMode == .brNetfilter ? "minimal" : "full"
        let style = Style(enabled: color.isEnabled)
        switch output {
        case .text:
            print(style.bold("packet: ") + Self.flow(path))
            print(style.bold("path: ") + path.summary)
            print("kernel: \(layout) layout, \(features.guestMode) guest firewall (\(origin))")
            for (leg, trace) in traces {
                print("")
                print(style.bold("\(leg.hook)\(leg.hook.priorityDescription.map { ", \($0)" } ?? ""): \(leg.what)"))
                print("  " + style.dim(leg.packet.description))
                if trace.steps.isEmpty {
                    print("  " + style.dim("(no base chain on this hook)"))
                    continue
                }
                for line in trace.description.split(separator: "\n").dropFirst(2) {
                    var text = String(line)
                    if text.contains("match   ") && !text.contains("no match") { text = style.cyan(text) }
                    print("  " + text)
                }
            }
            print("")
            if let incomplete { print(style.yellow("stops here: ") + incomplete) }
            let verdictText = final.description + (incomplete == nil ? "" : " so far (the receiving port is unknown)")
            print(style.bold("verdict: ") + (final == .accept ? style.green(verdictText) : style.red(verdictText)))
        case .json:
            var legsTree: [RenderedTree] = []
            for (leg, trace) in traces {
                var fields: [(String, RenderedTree)] = [("hook", .string(leg.hook.description))]
                if let priorities = leg.hook.priorityDescription { fields.append(("priority", .string(priorities))) }
                fields += [
                    ("what", .string(leg.what)),
                    ("packet", Self.packetTree(leg.packet)),
                    ("verdict", .string(trace.verdict.description)),
                    ("steps", .list(trace.steps.map { step in
                        var fields: [(String, RenderedTree)] = [
                            ("table", .string("\(step.family.rawValue) \(step.table)")), ("chain", .string(step.chain)),
                            ("rule", .string(step.text)), ("matched", .bool(step.matched)),
                        ]
                        if let id = step.ruleID { fields.append(("id", .string(id))) }
                        if let action = step.action { fields.append(("action", .string(action.description))) }
                        if let origin = step.origin { fields.append(("origin", .string(origin.description))) }
                        return .map(fields)
                    })),
                ]
                legsTree.append(.map(fields))
            }
            var fields: [(String, RenderedTree)] = [
                ("verdict", .string(final.description)),
                ("complete", .bool(incomplete == nil)),
            ]
            if let incomplete { fields.append(("incomplete", .string(incomplete))) }
            fields += [
                ("path", .string(path.summary)),
                ("kernel", .map([("layout", .string(layout)), ("guestFirewall", .string(features.guestMode.rawValue)), ("origin", .string(origin))])),
                ("packet", .string(Self.flow(path))),
                ("legs", .list(legsTree)),
            ]
            print(RenderedTree.map(fields).json())
        }
    }

    /// `tcp 10.10.0.11:40000 > 10.20.0.11:5432 [syn], ct new`: the packet without per-hook details.
    static func flow(_ path: TraceScenario.Path) -> String {
        guard var packet = path.legs.first?.packet else { return "" }
        packet.iifname = nil
        packet.oifname = nil
        packet.ibrname = nil
        packet.obrname = nil
        packet.etherSource = nil
        packet.etherDestination = nil
        return packet.description
    }

    static func packetTree(_ packet: Packet) -> RenderedTree {
        var fields: [(String, RenderedTree)] = []
        func add(_ key: String, _ value: (any CustomStringConvertible)?) { if let value { fields.append((key, .string(value.description))) } }
        add("iifname", packet.iifname)
        add("oifname", packet.oifname)
        add("ibrname", packet.ibrname)
        add("obrname", packet.obrname)
        add("etherSource", packet.etherSource)
        add("etherDestination", packet.etherDestination)
        add("network", packet.network?.rawValue)
        add("saddr", packet.saddr)
        add("daddr", packet.daddr)
        add("protocol", packet.l4proto)
        if let port = packet.sport { fields.append(("sport", .integer(Int(port)))) }
        if let port = packet.dport { fields.append(("dport", .integer(Int(port)))) }
        if let type = packet.icmpType { fields.append(("icmpType", .integer(Int(type)))) }
        add("ctState", packet.ctState.rawValue)
        return .map(fields)
    }
}
