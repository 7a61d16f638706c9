import Foundation
import SDNStore
import SDNTesting
import Testing

/// `GET /v1/cluster` and `DELETE /v1/cluster/nodes/{name}` over the store's records (the loop that writes
/// them is `ClusterMembershipControllerTests`).
@Suite struct ClusterAPITests {
    static let topology = """
        nodes:
          n1: { address: 10.99.0.1, uplinks: { eth0: {} } }
          n2: { address: 10.99.0.2, uplinks: { eth0: {} } }
          n3: { address: 10.99.0.3, uplinks: { eth0: {} } }
        zones:
          local: { type: simple }
        """

    /// A server whose store's target (generation 1) is revision 1, declaring n1, n2 and n3.
    static func serverWithTheThreeNodesAsTarget() async throws -> RunningServer {
        let server = try await RunningServer.start()
        _ = try await server.store.createRevision(documents: [StoredDocument(path: "Topologies/t.yaml", text: topology)], author: "t",
                                                  message: "1", expectedHead: .some(nil))
        try await server.store.setTarget(1, author: "t")
        return server
    }

    @Test func eachNodesLivenessGenerationAndStateAndWhetherTheLiveOnesConverged() async throws {
        let server = try await Self.serverWithTheThreeNodesAsTarget()
        defer { Task { await server.stop() } }
        let store = server.store
        try await store.setTarget(1, author: "t")
        let now = Date()
        try await store.recordNodeStatus(NodeApplyStatus(node: "n1", appliedRevision: 1, appliedGeneration: 2, generation: 2, lastError: nil, updatedAt: now))
        try await store.recordNodeStatus(NodeApplyStatus(node: "n2", appliedRevision: 1, appliedGeneration: 1, generation: 2,
                                                         lastError: "netlink: busy", updatedAt: now))
        try await store.recordNodeStatus(NodeApplyStatus(node: "n3", appliedRevision: 1, appliedGeneration: 1, generation: 1, lastError: nil, updatedAt: now))
        // A node that reports but is not declared (removed from the topology, its sdnd still running).
        try await store.recordNodeStatus(NodeApplyStatus(node: "old", appliedRevision: 1, appliedGeneration: 2, generation: 2, lastError: nil, updatedAt: now))
        for node in ["n1", "n2", "old"] { try await store.keepNodeAlive(node, ttl: .seconds(60)) }
        try await store.recordInstalledPorts([InstalledPort(port: "tap101i0", node: "n1", guest: 101, generation: 2, installedAt: now)], node: "n1")

        let reply = try await TestHTTP.send(server.unix, "GET", "/v1/cluster")
        #expect(reply.status == 200, "\(reply.text)")
        let report = reply.object
        #expect(report["targetRevision"] as? Int == 1 && report["generation"] as? Int == 2)
        let nodes = Dictionary(uniqueKeysWithValues: (report["nodes"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "", $0) })
        #expect(nodes.keys.sorted() == ["n1", "n2", "n3", "old"])
        #expect(nodes["n1"]?["state"] as? String == "applied" && nodes["n1"]?["ports"] as? Int == 1 && nodes["n1"]?["address"] as? String == "10.99.0.1")
        #expect(nodes["n2"]?["state"] as? String == "failed" && nodes["n2"]?["lastError"] as? String == "netlink: busy")
        #expect(nodes["n3"]?["state"] as? String == "dead" && nodes["n3"]?["live"] as? Bool == false)
        #expect(nodes["old"]?["declared"] as? Bool == false)
        #expect(report["converged"] as? Bool == false, "n2 has not applied generation 2")

        // n2 recovers: the live nodes converged; dead n3 is not waited for.
        try await store.recordNodeStatus(NodeApplyStatus(node: "n2", appliedRevision: 1, appliedGeneration: 2, generation: 2, lastError: nil, updatedAt: now))
        #expect(try await TestHTTP.send(server.unix, "GET", "/v1/cluster").object["converged"] as? Bool == true)
    }

    @Test func forgettingANodeIsRefusedWhileItIsLiveOrDeclared() async throws {
        let server = try await Self.serverWithTheThreeNodesAsTarget()
        defer { Task { await server.stop() } }
        let store = server.store
        let now = Date()
        for node in ["n3", "gone"] {
            try await store.recordNodeStatus(NodeApplyStatus(node: node, appliedRevision: 1, lastError: nil, updatedAt: now))
        }
        try await store.keepNodeAlive("gone", ttl: .seconds(60))

        let live = try await TestHTTP.send(server.unix, "DELETE", "/v1/cluster/nodes/gone")
        #expect(live.status == 409 && live.text.contains("node gone is live: stop its sdnd first"), "\(live.text)")
        let declared = try await TestHTTP.send(server.unix, "DELETE", "/v1/cluster/nodes/n3")
        #expect(declared.status == 409 && declared.text.contains("still declared"), "\(declared.text)")
        #expect(try await TestHTTP.send(server.unix, "DELETE", "/v1/cluster/nodes/9bad").status == 400)

        try await store.endNodeLiveness("gone")
        let forgotten = try await TestHTTP.send(server.unix, "DELETE", "/v1/cluster/nodes/gone")
        #expect(forgotten.status == 200, "\(forgotten.text)")
        #expect(try await store.nodeStatuses().map(\.node) == ["n3"])
        let audit = try await TestHTTP.send(server.unix, "GET", "/v1/audit").list
        #expect(audit.contains { ($0["action"] as? String) == "DELETE /v1/cluster/nodes/gone" && ($0["outcome"] as? String) == "ok" }, "\(audit)")
    }
}
