import ArgumentParser
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables

/// `sdn trace`: follow one packet through the compiled ruleset, rule by rule, without root or kernel.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show every chain and rule a packet meets, the policy line behind each, and the verdict.",
        discussion: """
            Examples:
              sdn trace --from 101/net0 --to 10.20.0.11 tcp/5432
              sdn trace --from 203.0.113.7 --to web1 tcp/443
              sdn trace --from 192.0.2.5 --to 192.0.2.10 tcp/22 --state established
            """
    )

    @Option(name: .customLong("config"), help: "YAML files or directories to read (repeatable; default: Topologies/ and Policies/).")
    var configPaths: [String] = []

    @Option(help: "Sender: a guest (ID, ID/netN, or NAME/netN) or an address.")
    var from: String

    @Option(help: "Receiver: a guest or an address.")
    var to: String

    @Argument(help: "What is sent: tcp/PORT, udp/PORT, icmp[/TYPE], icmpv6[/TYPE], ping, or a protocol.")
    var service: String

    @Option(help: "Connection state of the packet: new, established, related or invalid.")
    var state: String = "new"

    @Option(help: "The node whose ruleset to trace (default: the only node).")
    var node: String?

    @OptionGroup var kernel: KernelOptions

    @Option(name: [.short, .long], help: "text or json.")
    var output: OutputFormat = .text

    @Option(help: "Colour: auto, always or never.")
    var color: ColorMode = .auto

    func run() throws {
        let (validated, nodeName) = try loadForNode(paths: configPaths, node: node)
        let desired = validated.value
        guard let connectionState = Packet.ConnectionState(rawValue: state) else {
            printError("sdn: '\(state)' is not a connection state; use new, established, related or invalid")
            throw ExitCode(2)
        }
        let legs: [TraceScenario.Leg]
        do {
            legs = try TraceScenario.legs(from: try .parse(from, in: desired), to: try .parse(to, in: desired), service: try .parse(service),
                                          state: connectionState, in: desired, node: nodeName, features: kernel.features)
        } catch {
            printError("sdn: \(error.description)")
            throw ExitCode(2)
        }
        let ruleset = FirewallCompiler.compile(validated, node: nodeName, features: kernel.features).ruleset
        let interpreter = PacketInterpreter(ruleset: ruleset)
        var traces: [(TraceScenario.Leg, Trace)] = []
        var final: PacketVerdict = .accept
        for leg in legs {
            let trace: Trace
            do { trace = try interpreter.trace(leg.packet, at: leg.hook) } catch {
                printError("sdn: cannot evaluate the ruleset: \(error)")
                throw ExitCode(1)
            }
            traces.append((leg, trace))
            if trace.verdict != .accept {
                final = trace.verdict
                break
            }
        }
        let style = Style(enabled: color.isEnabled)
        switch output {
        case .text:
            print(style.bold("packet: ") + "\(legs.first?.packet.description ?? "")")
            print("kernel: \(kernel.features.guestMode) guest firewall")
            for (leg, trace) in traces {
                print("")
                print(style.bold("\(leg.hook): \(leg.what)"))
                for line in trace.description.split(separator: "\n").dropFirst(2) {
                    var text = String(line)
                    if text.contains("match   ") && !text.contains("no match") { text = style.cyan(text) }
                    print("  " + text)
                }
            }
            print("")
            let verdictText = final.description
            print(style.bold("verdict: ") + (final == .accept ? style.green(verdictText) : style.red(verdictText)))
        case .json:
            var legsTree: [RenderedTree] = []
            for (leg, trace) in traces {
                legsTree.append(.map([
                    ("hook", .string(leg.hook.description)),
                    ("what", .string(leg.what)),
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
                ]))
            }
            print(RenderedTree.map([("verdict", .string(final.description)), ("legs", .list(legsTree))]).json())
        }
    }
}
