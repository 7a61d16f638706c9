import ArgumentParser
import Foundation
import Glibc

/// `sdn cluster init --from-sqlite`: a single node becomes the first node of a cluster.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Move a single node's store into etcd, so that other nodes can join it.",
        subcommands: [ClusterInitCommand.self]
    )
}

struct ClusterInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Copy a node's SQLite store (revisions, target, audit log, tokens) into an empty etcd prefix.",
        discussion: """
            Stop the node's sdnd first (its kernel keeps what it applied), run this, then start sdnd again with \
            --etcd URL… and --node NAME: it adopts the kernel as it is (nothing is written when it matches). \
            Revisions keep their numbers, authors, times and diffs; tokens keep working (their hashes are copied). \
            The SQLite file is left as it was. The copy is done by sdnd (sdn links no store): it must be installed \
            beside sdn or in PATH.
            """
    )

    @Option(help: ArgumentHelp("The node's SQLite store.", valueName: "file"))
    var fromSqlite = "/var/lib/sdn/sdn.sqlite"

    @Option(name: .customLong("etcd"), help: ArgumentHelp("A client URL of the cluster's etcd (repeatable).", valueName: "url"))
    var etcdEndpoints: [String] = []

    @Option(help: "Where in etcd the state goes: a key prefix starting and ending with /.")
    var etcdPrefix = "/sdn/"

    func validate() throws {
        if etcdEndpoints.isEmpty { throw ValidationError("give the cluster's etcd with --etcd URL (e.g. --etcd http://10.0.0.11:2379)") }
    }

    func run() throws {
        guard let sdnd = Self.daemonExecutable() else {
            printError("sdn: cluster init runs sdnd to copy the store, and there is no sdnd beside \(CommandLine.arguments[0]) or in PATH")
            throw ExitCode.failed
        }
        var arguments = [sdnd, "--import-sqlite", fromSqlite, "--etcd-prefix", etcdPrefix]
        for endpoint in etcdEndpoints { arguments += ["--etcd", endpoint] }
        let argv = arguments.map { strdup($0) } + [nil]
        execv(sdnd, argv)
        printError("sdn: cannot run \(sdnd): \(String(cString: strerror(errno)))")
        throw ExitCode.failed
    }

    static func daemonExecutable() -> String? {
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("sdnd").path
        if access(own, X_OK) == 0 { return own }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/sdnd"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
