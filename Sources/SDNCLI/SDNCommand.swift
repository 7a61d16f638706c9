public import ArgumentParser

/// `sdn`: the command-line interface. One subcommand type per verb; dry verbs come first.
@available(macOS 10.15, *)
public struct SDNCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sdn",
        abstract: "Declarative networks and firewall for KVM/LXC hosts.",
        discussion: """
            Topologies/*.yaml describe nodes, uplinks, zones, vnets, subnets and guests; Policies/*.yaml \
            describe the firewall. Every command reads both directories by default. With sdnd, the node's daemon: \
            push, pull, plan, apply, status, history, events, token, rule and ipset talk to it (--server or SDN_SERVER).
            """,
        version: SDNVersion.current,
        subcommands: [
            ValidateCommand.self, ShowCommand.self, CompileCommand.self, TraceCommand.self, PlanCommand.self, DiffCommand.self, ApplyCommand.self, ImportCommand.self, GuestCommand.self,
            // Clients of sdnd (--server URL or SDN_SERVER; plan and apply act locally without one).
            PushCommand.self, PullCommand.self, StatusCommand.self, HistoryCommand.self, EventsCommand.self,
            TokenCommand.self, RuleCommand.self, IPSetCommand.self, ObjectCommand.self, NodeCommand.self, ClusterCommand.self,
            // The libvirt and LXC hooks: they ask sdnd for a guest's ports before it starts.
            GuestsCommand.self, HookCommand.self,
        ]
    )

    public init() {}
}

public enum SDNVersion {
    public static let current = "0.1.0"
}

@available(macOS 10.15, *)
extension SDNCommand {
    /// Parses the process arguments and runs the chosen command (the async entry point, so the
    /// commands that talk to the kernel can await it).
    public static func runFromCommandLine() async {
        let run: () async -> Void = { await main(nil) }
        await run()
    }
}
