import ArgumentParser
import Foundation

/// `sdn node`: the cluster's members. A node is an entry of the desired state's `nodes:` (its underlay
/// address, which VXLAN zones with `peers: all` send to, and its management networks, which the firewall
/// failsafe keeps open); joining and leaving are revisions like any other edit, so history shows them and
/// a VXLAN zone's flood list follows them on every node.
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "List the cluster's nodes with their liveness and applied generation; join or remove a node.",
        subcommands: [NodeListCommand.self, NodeJoinCommand.self, NodeRemoveCommand.self]
    )
}

struct NodeListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every node: declared or not, live or dead, the generation it holds, drift, its last error.",
        discussion: "Exit status: 0 every live node holds the target's generation, 3 some do not yet, 1 a node failed or is dead."
    )

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", "/v1/cluster")
        let report = try session.decode(RemoteClusterReport.self, from: response)
        if session.output == .json { session.printJSON(response) } else { print(Self.render(report)) }
        try Self.exitStatus(report)
    }

    static func exitStatus(_ report: RemoteClusterReport) throws {
        let declared = report.nodes.filter(\.declared)
        if declared.contains(where: { $0.state == "failed" || $0.state == "dead" }) { throw ExitCode.failed }
        if declared.contains(where: { $0.state == "pending" || $0.drift }) { throw ExitCode.changesPending }
    }

    static func render(_ report: RemoteClusterReport) -> String {
        var lines = ["target revision \(ClientFormat.revision(report.targetRevision)), generation \(report.generation.map(String.init) ?? "none")"
            + (report.converged ? "" : ": not every live node holds it yet")]
        var table = TextTable(headers: ["NODE", "ADDRESS", "LIVE", "STATE", "APPLIED", "GENERATION", "DRIFT", "PORTS", "REPORTED"])
        for node in report.nodes {
            table.rows.append([node.name + (node.declared ? "" : " (not declared)"), node.address ?? "-", node.live ? "yes" : "no", node.state,
                               ClientFormat.revision(node.appliedRevision), node.appliedGeneration.map(String.init) ?? "-",
                               node.drift ? "yes" : "no", String(node.ports), ClientFormat.date(node.updatedAt)])
        }
        lines.append(table.render())
        for node in report.nodes {
            if let error = node.lastError { lines.append("\(node.name): last error: \(error)") }
            if node.state == "dead" && node.declared { lines.append("\(node.name): dead (its liveness expired): its kernel keeps what it applied; it catches up when its sdnd returns") }
        }
        return lines.joined(separator: "\n")
    }
}

/// Options of the commands that write a revision and apply it.
struct MembershipApplyOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Apply the revision at once (when nothing else is pending) and wait for the live nodes.")
    var apply = true

    @Option(help: ArgumentHelp("Give up waiting after this many seconds, naming the nodes that have not applied.", valueName: "seconds"))
    var timeout: Double = 60

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds, not \(timeout)") }
    }

    /// Applies `revision` if the target was the head before it was written (no one else's pending change
    /// goes out with it), then waits for every live node.
    func applyIfAlone(_ session: DaemonSession, revision: Int64?, headBefore: Int64?, targetBefore: Int64?, what: String) throws {
        guard apply, let revision else { return }
        guard headBefore == targetBefore else {
            print("\(what) is revision \(revision); other changes are pending too (head \(ClientFormat.revision(headBefore)), target \(ClientFormat.revision(targetBefore))): review them with `sdn plan`, then `sdn apply --wait`")
            return
        }
        let response = try session.call("POST", "/v1/apply", json: ApplyRequest(revision: revision), timeout: DaemonPlanApply.applyTimeout)
        let result = try session.decode(RemoteApplyResult.self, from: response)
        guard result.converged, let generation = result.generation else {
            printError("sdn: node \(result.node): applying revision \(result.revision) \(result.outcome)" + (result.errors.isEmpty ? "" : ": " + result.errors.joined(separator: "; ")))
            throw ExitCode.failed
        }
        try ClusterWait.waitAndReport(session, generation: generation, timeout: .milliseconds(Int64(timeout * 1000)))
    }
}

struct NodeJoinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Add a node to the cluster (or update its addresses), apply, and wait for every live node.",
        discussion: """
            Writes nodes.NAME (its underlay --address, its --management networks, its --api-port), keeping its \
            uplinks if it has some, as one revision; applies it when nothing else is pending and waits until \
            every live node holds it: VXLAN zones with `peers: all` then flood to the new node. Start the node's \
            own daemon with `sdnd --etcd URL… --node NAME`; it reports live once it runs.
            """
    )

    @Argument(help: "The node's name, as its sdnd's --node.")
    var name: String

    @Option(help: ArgumentHelp("The node's underlay address: what other nodes' VXLAN tunnels send to.", valueName: "ip"))
    var address: String

    @Option(help: ArgumentHelp("A network the node is managed from (repeatable; kept reachable by the firewall failsafe).", valueName: "cidr"))
    var management: [String] = []

    @Option(help: ArgumentHelp("The TCP port its sdnd serves the API on (failsafe-open from --management).", valueName: "port"))
    var apiPort: Int?

    @OptionGroup var applying: MembershipApplyOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let status = try session.decode(RemoteStatus.self, from: try session.call("GET", "/v1/status"))
        let path = ObjectCommand.objectPath("nodes", name)
        var object: [String: Any] = [:]
        var headers: [(String, String)] = [("If-None-Match", "*")]
        let existing = try session.send("GET", path)
        if existing.status == 200 {
            guard let envelope = try? JSONSerialization.jsonObject(with: existing.body) as? [String: Any],
                  let current = envelope["object"] as? [String: Any], let etag = envelope["etag"] as? String else {
                printError("sdn: sdnd at \(session.server) answered something this sdn cannot read for \(path)")
                throw ExitCode.failed
            }
            object = current
            headers = [("If-Match", etag)]
        } else if existing.status != 404 {
            throw session.refusal(existing)
        }
        object["address"] = address
        if !management.isEmpty { object["management"] = management }
        if let apiPort { object["api-port"] = apiPort }
        let body = try JSONSerialization.data(withJSONObject: ["object": object], options: [.sortedKeys])
        let response = try session.call("PUT", path, body: body, headers: headers)
        struct Written: Decodable {
            var revision: Int64?
            var unchanged: Bool
        }
        let written = try session.decode(Written.self, from: response)
        if written.unchanged {
            print("node \(name): already joined with these addresses (no new revision)")
            return
        }
        print("node \(name): \(existing.status == 404 ? "joined" : "updated") (revision \(written.revision.map(String.init) ?? "?"))")
        try applying.applyIfAlone(session, revision: written.revision, headBefore: status.head, targetBefore: status.target, what: "the join")
    }
}

struct NodeRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a stopped node from the cluster: its entry, then what it reported.",
        discussion: """
            Refused while the node is live (stop its sdnd first) and while guests are declared on it (move them: \
            change their node: and apply). Deletes nodes.NAME as one revision, applies it when nothing else is \
            pending and waits for the live nodes (VXLAN zones stop flooding to it), then forgets the node's \
            applied record, liveness and installed ports.
            """
    )

    @Argument(help: "The node's name.")
    var name: String

    @OptionGroup var applying: MembershipApplyOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let cluster = try session.decode(RemoteClusterReport.self, from: try session.call("GET", "/v1/cluster"))
        guard let node = cluster.nodes.first(where: { $0.name == name }) else {
            printError("sdn: there is no node \(name) (sdn node list shows them)")
            throw ExitCode.failed
        }
        if node.live {
            printError("sdn: node \(name) is live: stop its sdnd first (it would report again), then remove it")
            throw ExitCode.failed
        }
        if node.declared {
            let status = try session.decode(RemoteStatus.self, from: try session.call("GET", "/v1/status"))
            let response = try session.call("DELETE", ObjectCommand.objectPath("nodes", name))
            struct Deleted: Decodable { var revision: Int64? }
            let deleted = try session.decode(Deleted.self, from: response)
            print("node \(name): removed from the desired state (revision \(deleted.revision.map(String.init) ?? "?"))")
            try applying.applyIfAlone(session, revision: deleted.revision, headBefore: status.head, targetBefore: status.target,
                                      what: "the removal")
        }
        let after = try session.decode(RemoteClusterReport.self, from: try session.call("GET", "/v1/cluster"))
        if after.nodes.first(where: { $0.name == name })?.declared == true {
            print("node \(name): still declared in the target; its records are kept until that is applied")
            return
        }
        try session.call("DELETE", "/v1/cluster/nodes/\(APIPath.component(name))")
        print("node \(name): forgotten (its applied record, liveness and installed ports)")
    }
}
