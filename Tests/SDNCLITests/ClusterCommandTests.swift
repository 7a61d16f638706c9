import Foundation
import Synchronization
import Testing

/// `sdn apply --wait`, `sdn node join|remove|list` and the cluster part of `sdn status`, against scripted
/// servers: what a user sees while nodes converge, fail, time out or are dead.
@Suite struct ClusterCommandTests {
    typealias Client = ClientCommandTests

    static func node(_ name: String, state: String, applied: Int? = nil, generation: Int? = nil, live: Bool = true,
                     error: String? = nil, declared: Bool = true) -> String {
        func value(_ number: Int?) -> String { number.map(String.init) ?? "null" }
        return #"{"name":"\#(name)","declared":\#(declared),"address":"10.99.0.\#(name.dropFirst())","live":\#(live),"state":"\#(state)","appliedRevision":\#(value(applied)),"appliedGeneration":\#(value(generation)),"lastError":\#(error.map { "\"\($0)\"" } ?? "null"),"drift":false,"updatedAt":"2026-12-06T05:00:00Z","ports":1}"#
    }

    static func cluster(generation: Int, revision: Int, _ nodes: [String]) -> String {
        #"{"targetRevision":\#(revision),"generation":\#(generation),"headRevision":\#(revision),"converged":false,"nodes":[\#(nodes.joined(separator: ","))]}"#
    }

    static let applied = #"{"node":"n1","revision":2,"converged":true,"outcome":"converged","errors":[],"stepsApplied":1,"linkWrites":0,"firewallMessages":3,"milliseconds":2.5,"generation":5}"#
    static let plan = #"[{"node":"n1","revision":2,"text":"node n1: 1 step\n","steps":1,"firewallChanges":1,"conflicts":[],"diagnostics":[]}]"#

    /// A server for `apply --wait`: the plan, the apply, then `clusters` in turn (the last repeated).
    static func applyServer(_ clusters: [String]) throws -> ScriptedHTTPServer {
        let polls = Mutex(0)
        return try ScriptedHTTPServer(.unix) { request, connection in
            switch (request.method, request.target) {
            case ("POST", "/v1/apply"): connection.send(ScriptedHTTPServer.response(200, json: applied))
            case ("GET", "/v1/cluster"):
                let index = polls.withLock { count in defer { count += 1 }; return min(count, clusters.count - 1) }
                connection.send(ScriptedHTTPServer.response(200, json: clusters[index]))
            default: connection.send(ScriptedHTTPServer.response(200, json: plan))
            }
        }
    }

    @Test func applyWaitReturnsOnceEveryLiveNodeHoldsTheGenerationAndNamesTheDeadOnes() throws {
        let pending = Self.cluster(generation: 5, revision: 2, [Self.node("n1", state: "applied", applied: 2, generation: 5),
                                                                Self.node("n2", state: "pending", applied: 1, generation: 4),
                                                                Self.node("n3", state: "dead", applied: 1, generation: 3, live: false)])
        let done = Self.cluster(generation: 5, revision: 2, [Self.node("n1", state: "applied", applied: 2, generation: 5),
                                                             Self.node("n2", state: "applied", applied: 2, generation: 5),
                                                             Self.node("n3", state: "dead", applied: 1, generation: 3, live: false)])
        let server = try Self.applyServer([pending, pending, done])
        defer { server.stop() }
        let result = try Client.sdn(["apply", "--yes", "--wait", "--server", server.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("generation 5 (revision 2) applied on 2 live nodes in "), "\(result.stdout)")
        #expect(result.stderr.contains("node n3 is dead (its liveness expired); not waited for"), "\(result.stderr)")
        #expect(server.requests.filter { $0.target == "/v1/cluster" }.count >= 3)
    }

    @Test func applyWaitTimesOutNamingTheStragglersWithTheirLastError() throws {
        let stuck = Self.cluster(generation: 5, revision: 2, [Self.node("n1", state: "applied", applied: 2, generation: 5),
                                                              Self.node("n2", state: "pending", applied: 1, generation: 4, error: "netlink: Device or resource busy"),
                                                              Self.node("n3", state: "dead", live: false)])
        let server = try Self.applyServer([stuck])
        defer { server.stop() }
        let started = ContinuousClock.now
        let result = try Client.sdn(["apply", "--yes", "--wait", "--timeout", "0.5", "--server", server.url])
        #expect(ContinuousClock.now - started < .seconds(20), "it hung instead of timing out")
        #expect(result.status == 1)
        #expect(result.stderr.contains("generation 5 not applied after"), "\(result.stderr)")
        #expect(result.stderr.contains("n2: pending, holds revision 1 (generation 4); last error: netlink: Device or resource busy"), "\(result.stderr)")
        #expect(result.stderr.contains("n3: dead (liveness expired), not waited for"), "\(result.stderr)")
        #expect(!result.stderr.contains("n1:"), "a node that applied is not a straggler: \(result.stderr)")
    }

    @Test func applyWaitStopsAtANodeThatFailedTheGeneration() throws {
        let failed = Self.cluster(generation: 5, revision: 2, [Self.node("n1", state: "applied", applied: 2, generation: 5),
                                                               Self.node("n2", state: "failed", applied: 1, generation: 4, error: "revision 2: invalid")])
        let server = try Self.applyServer([failed])
        defer { server.stop() }
        let result = try Client.sdn(["apply", "--yes", "--wait", "--timeout", "60", "--server", server.url])
        #expect(result.status == 1)
        #expect(result.stderr.contains("generation 5 failed on 1 node:"), "\(result.stderr)")
        #expect(result.stderr.contains("n2: failed, holds revision 1 (generation 4); last error: revision 2: invalid"))
        #expect(server.requests.filter { $0.target == "/v1/cluster" }.count == 1, "it kept polling after the failure")
    }

    @Test func waitNeedsADaemon() throws {
        let result = try Client.sdn(["apply", "--wait", "--yes", "Topologies"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--wait waits for the nodes of a cluster: it needs a daemon"), "\(result.stderr)")
    }

    @Test func nodeJoinWritesTheNodeAppliesItAndWaits() throws {
        let status = #"{"head":3,"target":3,"pending":false,"nodes":[]}"#
        let done = Self.cluster(generation: 5, revision: 4, [Self.node("n1", state: "applied", applied: 4, generation: 5),
                                                             Self.node("n4", state: "applied", applied: 4, generation: 5)])
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            switch (request.method, request.target) {
            case ("GET", "/v1/status"): connection.send(ScriptedHTTPServer.response(200, json: status))
            case ("GET", "/v1/objects/nodes/n4"):
                connection.send(ScriptedHTTPServer.response(404, json: #"{"error":{"code":"not-found","message":"no nodes n4"}}"#))
            case ("PUT", "/v1/objects/nodes/n4"): connection.send(ScriptedHTTPServer.response(201, json: #"{"id":"n4","revision":4,"unchanged":false}"#))
            case ("POST", "/v1/apply"): connection.send(ScriptedHTTPServer.response(200, json: Self.applied.replacingOccurrences(of: #""revision":2"#, with: #""revision":4"#)))
            default: connection.send(ScriptedHTTPServer.response(200, json: done))
            }
        }
        defer { server.stop() }
        let result = try Client.sdn(["node", "join", "n4", "--address", "10.99.0.4", "--management", "10.99.0.0/24", "--server", server.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("node n4: joined (revision 4)"), "\(result.stdout)")
        #expect(result.stdout.contains("applied on 2 live nodes"), "\(result.stdout)")
        let put = try #require(server.requests.first { $0.method == "PUT" })
        #expect(put.headers["if-none-match"] == "*", "\(put.headers)")
        let object = (try JSONSerialization.jsonObject(with: put.body) as? [String: Any])?["object"] as? [String: Any]
        #expect(object?["address"] as? String == "10.99.0.4")
        #expect(object?["management"] as? [String] == ["10.99.0.0/24"])
        let apply = try #require(server.requests.first { $0.method == "POST" })
        #expect(try JSONSerialization.jsonObject(with: apply.body) as? [String: Int] == ["revision": 4])
    }

    @Test func nodeJoinLeavesOthersPendingChangesAlone() throws {
        let status = #"{"head":3,"target":2,"pending":true,"nodes":[]}"#
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            switch (request.method, request.target) {
            case ("GET", "/v1/status"): connection.send(ScriptedHTTPServer.response(200, json: status))
            case ("GET", "/v1/objects/nodes/n4"):
                connection.send(ScriptedHTTPServer.response(200, json: #"{"id":"n4","etag":"\"abc\"","object":{"address":"10.99.0.9","uplinks":{"eth0":{}}}}"#))
            default: connection.send(ScriptedHTTPServer.response(200, json: #"{"id":"n4","revision":4,"unchanged":false}"#))
            }
        }
        defer { server.stop() }
        let result = try Client.sdn(["node", "join", "n4", "--address", "10.99.0.4", "--server", server.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("node n4: updated (revision 4)"))
        #expect(result.stdout.contains("other changes are pending too (head 3, target 2)"), "\(result.stdout)")
        #expect(!server.requests.contains { $0.method == "POST" }, "it applied someone else's pending changes")
        let put = try #require(server.requests.first { $0.method == "PUT" })
        #expect(put.headers["if-match"] == "\"abc\"")
        let object = (try JSONSerialization.jsonObject(with: put.body) as? [String: Any])?["object"] as? [String: Any]
        #expect(object?["address"] as? String == "10.99.0.4")
        #expect(object?["uplinks"] != nil, "the node's uplinks were dropped")
    }

    @Test func nodeRemoveRefusesALiveNode() throws {
        let cluster = Self.cluster(generation: 5, revision: 4, [Self.node("n1", state: "applied", applied: 4, generation: 5),
                                                                Self.node("n2", state: "applied", applied: 4, generation: 5)])
        let server = try ScriptedHTTPServer(.unix) { _, connection in connection.send(ScriptedHTTPServer.response(200, json: cluster)) }
        defer { server.stop() }
        let result = try Client.sdn(["node", "remove", "n2", "--server", server.url])
        #expect(result.status == 1)
        #expect(result.stderr.contains("node n2 is live: stop its sdnd first"), "\(result.stderr)")
        #expect(!server.requests.contains { $0.method == "DELETE" })
    }

    @Test func statusShowsTheOtherNodesOfTheCluster() throws {
        let status = #"{"head":2,"target":2,"pending":false,"nodes":[{"node":"n1","targetRevision":2,"appliedRevision":2,"headRevision":2,"pendingChanges":false,"drift":false,"lastError":null,"lastReconcile":"2026-12-06T05:00:00Z","portsPlugged":[],"portsMissing":[],"driftMode":"repair"}]}"#
        let cluster = Self.cluster(generation: 5, revision: 2, [Self.node("n1", state: "applied", applied: 2, generation: 5),
                                                                Self.node("n2", state: "dead", applied: 1, generation: 4, live: false)])
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            connection.send(ScriptedHTTPServer.response(200, json: request.target == "/v1/cluster" ? cluster : status))
        }
        defer { server.stop() }
        let result = try Client.sdn(["status", "--server", server.url])
        #expect(result.status == 1, "a dead node is a failure of the cluster's status")
        #expect(result.stdout.contains("cluster:\ntarget revision 2, generation 5"), "\(result.stdout)")
        #expect(result.stdout.contains("n2: dead (its liveness expired)"), "\(result.stdout)")
    }
}
