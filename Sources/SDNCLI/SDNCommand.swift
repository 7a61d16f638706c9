import ArgumentParser

/// `sdn`: the command-line interface. One subcommand type per verb; dry verbs come first.
public struct SDNCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sdn",
        abstract: "Declarative networks and firewall for KVM/LXC hosts.",
        discussion: """
            Topologies/*.yaml describe nodes, uplinks, zones, vnets, subnets and guests; Policies/*.yaml \
            describe the firewall. Every command reads both directories by default.
            """,
        version: SDNVersion.current,
        subcommands: [ValidateCommand.self, ShowCommand.self, CompileCommand.self, TraceCommand.self]
    )

    public init() {}
}

public enum SDNVersion {
    public static let current = "0.1.0"
}
