import Foundation
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns

// Helpers shared by the kernel-facing benchmarks. Every benchmark works in network namespaces it
// creates itself (named `sdnbench-PID-N`) and deletes afterwards; the host's ruleset is never touched.

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Times `body` once, in milliseconds.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try body()
    return (result, milliseconds(ContinuousClock.now - start))
}

func timedAsync<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try await body()
    return (result, milliseconds(ContinuousClock.now - start))
}

nonisolated(unsafe) var namespaceCounter = 0

/// Runs `body` in a fresh, named network namespace and deletes it afterwards (also on error).
func withBenchNamespace<T>(_ body: (NetworkNamespace) async throws -> T) async throws -> T {
    namespaceCounter += 1
    let namespace = try NetworkNamespace.create(named: "sdnbench-\(getpid())-\(namespaceCounter)")
    do {
        let result = try await body(namespace)
        try namespace.delete()
        return result
    } catch {
        try? namespace.delete()
        throw error
    }
}

/// A validated and compiled synthetic cluster.
struct CompiledCluster {
    var cluster: SyntheticCluster
    var state: DesiredState
    var compiled: CompiledFirewall

    init(_ cluster: SyntheticCluster) {
        self.cluster = cluster
        state = cluster.state()
        compiled = CompiledCluster.compile(state)
    }

    static func compile(_ state: DesiredState) -> CompiledFirewall {
        let outcome = state.validate()
        guard let validated = outcome.validated else {
            print("synthetic state does not validate:", outcome.diagnostics.prefix(5).map(\.description))
            exit(1)
        }
        return FirewallCompiler.compile(validated, node: "bench", features: .minimal)
    }

    var ruleCount: Int { compiled.ruleset.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } } }
    var elementCount: Int { compiled.ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } } }
}

/// Runs a command, returning its exit status and standard output; its error output goes to our stderr
/// only when it fails.
func execute(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Drain both pipes at once: a tool that fills one while we read the other would block forever.
    nonisolated(unsafe) var errorData = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errorData = errors.fileHandleForReading.readDataToEndOfFile()
        drained.signal()
    }
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        FileHandle.standardError.write("command failed (\(process.terminationStatus)): \(arguments.joined(separator: " "))\n".data(using: .utf8)!)
        FileHandle.standardError.write(errorData.prefix(2000))
    }
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self))
}

/// Runs a command, returning its exit status.
@discardableResult
func run(_ arguments: [String]) throws -> Int32 { try execute(arguments).status }

/// Runs a command and returns its standard output (nil when it fails).
func capture(_ arguments: [String]) throws -> String? {
    let (status, output) = try execute(arguments)
    return status == 0 ? output : nil
}

/// Loads `ruleset` into `namespace` through netlink (chunked, as the daemon does for a first load).
func coldLoad(_ ruleset: Ruleset, into firewall: NetlinkFirewall) async throws -> FirewallApplyReport {
    try await firewall.applyChunked(RulesetDiff.changes(from: Ruleset(), to: ruleset), expectedGeneration: nil)
}
