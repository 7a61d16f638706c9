import ArgumentParser
import Foundation

/// `sdn status`: the daemon's revisions and each node's state.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show sdnd's head and target revisions and, per node, what is applied, drift, errors and guest ports; in a cluster, every node's liveness and generation.",
        discussion: "Exit status: 0 all nodes applied their target without error, 3 changes pending or drift, 1 a node has an error or sdnd cannot be reached."
    )

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", "/v1/status")
        let status = try session.decode(RemoteStatus.self, from: response)
        // The cluster's other nodes: what the store says they applied, and whether they are live.
        // (An sdnd older than the cluster has no /v1/cluster: its status alone is shown.)
        let clusterResponse = try session.send("GET", "/v1/cluster")
        let cluster = (200..<300).contains(clusterResponse.status)
            ? try? ClientJSON.decoder.decode(RemoteClusterReport.self, from: clusterResponse.body) : nil
        let others = cluster?.nodes.filter { node in !status.nodes.contains { $0.node == node.name } } ?? []
        if session.output == .json {
            session.printJSON(response)
        } else {
            print(Self.render(status))
            if let cluster, !others.isEmpty { print("\ncluster:\n" + NodeListCommand.render(cluster)) }
        }
        if status.nodes.contains(where: { $0.lastError != nil }) { throw ExitCode.failed }
        if let cluster, !others.isEmpty { try NodeListCommand.exitStatus(cluster) }
        if status.pending == true || status.nodes.contains(where: { $0.pendingChanges || $0.drift }) { throw ExitCode.changesPending }
    }

    static func render(_ status: RemoteStatus) -> String {
        var lines = ["head \(ClientFormat.revision(status.head)), target \(ClientFormat.revision(status.target))"
            + (status.pending == true ? ": changes pending (`sdn plan` shows them, `sdn apply` applies them)" : "")]
        var table = TextTable(headers: ["NODE", "APPLIED", "TARGET", "PENDING", "DRIFT", "PORTS", "LAST RECONCILE"])
        for node in status.nodes {
            let ports = "\(node.portsPlugged.count) plugged" + (node.portsMissing.isEmpty ? "" : ", \(node.portsMissing.count) missing")
            let drift = node.drift ? "yes" + (node.driftMode.map { " (\($0))" } ?? "") : "no"
            table.rows.append([node.node, ClientFormat.revision(node.appliedRevision), ClientFormat.revision(node.targetRevision),
                               node.pendingChanges ? "yes" : "no", drift, ports, ClientFormat.date(node.lastReconcile)])
        }
        lines.append(table.render())
        for node in status.nodes {
            if !node.portsMissing.isEmpty { lines.append("\(node.node): ports not present yet: \(node.portsMissing.joined(separator: ", "))") }
            if let error = node.lastError { lines.append("\(node.node): last error: \(error)") }
            if let error = node.storeError { lines.append("\(node.node): cannot reach the store (it keeps enforcing revision \(ClientFormat.revision(node.appliedRevision))): \(error)") }
        }
        return lines.joined(separator: "\n")
    }
}
