import ArgumentParser
import Foundation

/// `sdn apply --wait`: polls `GET /v1/cluster` until every live node declared in the target holds the
/// generation the apply chose. Dead nodes (their liveness expired) are named and not waited for; on
/// timeout the nodes that have not applied are named with their last error, instead of hanging (OVN's
/// `--wait=hv` waits forever for a dead chassis).
enum ClusterWait {
    enum Outcome: Equatable {
        case applied(dead: [String])
        case failed(nodes: [String])
        case timedOut(nodes: [String])
    }

    static let pollInterval: Duration = .milliseconds(100)

    static func wait(_ session: DaemonSession, generation: Int64, timeout: Duration) throws -> RemoteClusterReport {
        let deadline = ContinuousClock.now + timeout
        while true {
            let report = try session.decode(RemoteClusterReport.self, from: try session.call("GET", "/v1/cluster"))
            // A node holding a newer generation (someone applied again meanwhile) holds this one's successor.
            let declared = report.nodes.filter(\.declared)
            let holding = declared.allSatisfy { $0.state == "dead" || ($0.appliedGeneration ?? 0) >= generation }
            let failed = declared.contains { $0.state == "failed" && (report.generation ?? 0) == generation }
            if holding || failed || ContinuousClock.now >= deadline { return report }
            Thread.sleep(forTimeInterval: pollInterval.secondsValue)
        }
    }

    static func outcome(_ report: RemoteClusterReport, generation: Int64) -> Outcome {
        let declared = report.nodes.filter(\.declared)
        let dead = declared.filter { $0.state == "dead" }.map(\.name)
        let failed = declared.filter { $0.state == "failed" }.map(\.name)
        let behind = declared.filter { $0.state != "dead" && ($0.appliedGeneration ?? 0) < generation }.map(\.name)
        if behind.isEmpty { return .applied(dead: dead) }
        if !failed.isEmpty { return .failed(nodes: behind) }
        return .timedOut(nodes: behind)
    }

    /// Waits, prints what happened, and fails (exit 1) unless every live node applied.
    static func waitAndReport(_ session: DaemonSession, generation: Int64, timeout: Duration) throws {
        let started = ContinuousClock.now
        let report = try wait(session, generation: generation, timeout: timeout)
        let elapsed = ContinuousClock.now - started
        let outcome = outcome(report, generation: generation)
        let byName = Dictionary(report.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        func describe(_ name: String) -> String {
            guard let node = byName[name] else { return name }
            let holds = node.appliedRevision.map { "holds revision \($0) (generation \(node.appliedGeneration.map(String.init) ?? "?"))" } ?? "has applied nothing yet"
            return "\(name): \(node.state), \(holds)" + (node.lastError.map { "; last error: \($0)" } ?? "")
        }
        let live = report.nodes.filter { $0.declared && $0.state != "dead" }.count
        switch outcome {
        case .applied(let dead):
            if session.output == .text {
                print("generation \(generation) (revision \(report.targetRevision.map(String.init) ?? "?")) applied on \(live) live node\(live == 1 ? "" : "s") in \(String(format: "%.2f", elapsed.secondsValue)) s")
            }
            for name in dead {
                printError("sdn: node \(name) is dead (its liveness expired); not waited for: it applies the target when it returns")
            }
        case .failed(let nodes):
            printError("sdn: generation \(generation) failed on \(nodes.count) node\(nodes.count == 1 ? "" : "s"):")
            for name in nodes { printError("  " + describe(name)) }
            throw ExitCode.failed
        case .timedOut(let nodes):
            printError("sdn: generation \(generation) not applied after \(String(format: "%.1f", elapsed.secondsValue)) s on \(nodes.count) node\(nodes.count == 1 ? "" : "s"):")
            for name in nodes { printError("  " + describe(name)) }
            for node in report.nodes where node.declared && node.state == "dead" {
                printError("  \(node.name): dead (liveness expired), not waited for")
            }
            throw ExitCode.failed
        }
    }
}

extension Duration {
    var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
