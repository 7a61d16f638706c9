import Foundation
import Hummingbird
import SDNModel
import SDNStore

/// `GET /v1/cluster`: every node the target revision declares or that reports to the store, with its
/// liveness and what it applied. `sdn apply --wait` polls it until every live node holds the target's
/// generation; `sdn status` and `sdn node list` print it.
struct ClusterReport: Codable, Hashable, Sendable {
    var targetRevision: RevisionNumber?
    var generation: Int64?
    var headRevision: RevisionNumber?
    var nodes: [ClusterNodeReport]
    /// Every live node of the target revision holds its generation (dead ones are not waited for).
    var converged: Bool
}

struct ClusterNodeReport: Codable, Hashable, Sendable {
    enum State: String, Codable, Hashable, Sendable {
        /// It holds the target's generation.
        case applied
        /// It is live and has not applied the target's generation yet.
        case pending
        /// It tried the target's generation and failed (`lastError` says why).
        case failed
        /// Its liveness expired (or it stopped): it is not waited for.
        case dead
    }

    var name: String
    /// In the target revision's `nodes:` (a node that still reports after its removal is not).
    var declared: Bool
    var address: String?
    var live: Bool
    var state: State
    var appliedRevision: RevisionNumber?
    var appliedGeneration: Int64?
    var lastError: String?
    var drift: Bool
    var updatedAt: Date?
    /// Guest ports it has installed.
    var ports: Int

    static func state(live: Bool, status: NodeApplyStatus?, generation: Int64?) -> State {
        guard live else { return .dead }
        guard let generation else { return .applied }
        if let applied = status?.appliedGeneration, applied >= generation { return .applied }
        if status?.generation ?? 0 >= generation, status?.lastError != nil { return .failed }
        return .pending
    }
}

extension APIServer {
    func clusterReport() async throws -> ClusterReport {
        async let headNumber = store.headNumber()
        async let targetState = store.targetState()
        async let statusList = store.nodeStatuses()
        async let liveSet = store.liveNodes()
        async let portList = store.installedPorts()
        let (head, target, statuses, live, ports) = try await (headNumber, targetState, statusList, liveSet, portList)
        var declared: [String: Node] = [:]
        // `sdn apply --wait` polls this: the target's model comes from the cache, its documents (megabytes
        // for a large site) are read once.
        if let target {
            var state = stateCache.state(of: target.revision)
            if state == nil, let revision = try await store.revision(target.revision) { state = validatedState(of: revision) }
            for node in state?.value.nodes ?? [] { declared[node.name] = node }
        }
        let byName = Dictionary(statuses.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        let portCounts = Dictionary(grouping: ports, by: \.node).mapValues(\.count)
        let names = Set(declared.keys).union(byName.keys).union(live).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let nodes = names.map { name in
            let status = byName[name]
            let isLive = live.contains(name)
            return ClusterNodeReport(name: name, declared: declared[name] != nil, address: declared[name]?.address?.description, live: isLive,
                                     state: ClusterNodeReport.state(live: isLive, status: status, generation: target?.generation),
                                     appliedRevision: status?.appliedRevision, appliedGeneration: status?.appliedGeneration,
                                     lastError: status?.lastError, drift: status?.drift ?? false, updatedAt: status?.updatedAt,
                                     ports: portCounts[name] ?? 0)
        }
        let converged = nodes.allSatisfy { !$0.declared || $0.state == .applied || $0.state == .dead }
        return ClusterReport(targetRevision: target?.revision, generation: target?.generation, headRevision: head, nodes: nodes,
                             converged: converged)
    }

    /// Forgets a node that left (`sdn node remove`): refused while it is live, since it would report again.
    func forgetNode(_ call: inout APICall) async throws -> Response {
        let name = call.parameter("name")
        try call.require(.operate, on: "/nodes/\(name)")
        call.audit.object = "/nodes/\(name)"
        if let problem = Identifier.problem(with: name) {
            throw APIError.badRequest("not a node name: \(problem)", field: "name")
        }
        if try await store.liveNodes().contains(name) {
            throw APIError.conflict("node \(name) is live: stop its sdnd first (it would report again), then remove it")
        }
        let report = try await clusterReport()
        if let node = report.nodes.first(where: { $0.name == name }), node.declared {
            throw APIError.conflict("node \(name) is still declared in the target revision \(report.targetRevision.map(String.init) ?? ""): delete it (sdn object delete nodes \(name)) and apply first")
        }
        try await store.forgetNode(name)
        return try APIServer.json(try await clusterReport())
    }
}
