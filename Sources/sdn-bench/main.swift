import Foundation
import SDNFirewall
import SDNModel
import SDNNFTables

// sdn-bench: release-built benchmarks whose figures go into BENCHMARKS.md.
//   swift build -c release --product sdn-bench && .build/release/sdn-bench [compile|render|cold-apply|guest-change|ipset|per-packet] [--guests=N,M] [--iterations=N]
//   .build/release/sdn-bench links-cold [--vnets 1000] | fdb [--entries 10000] | links-reconcile [--guests=1000]
//   .build/release/sdn-bench gen-config | api-latency | rule-change | tap-attach   (the daemon's: see scripts/bench-daemon.sh)
//   .build/release/sdn-bench cluster | cluster-raw --etcd URL[,URL…] --agents N   (through etcd: see scripts/bench-cluster.sh)
// The kernel benchmarks need root; each works in network namespaces it creates and deletes.

func measure<T>(_ label: String, repeat count: Int = 1, _ body: () throws -> T) rethrows -> (T, [Double]) {
    var samples: [Double] = []
    var result: T?
    for _ in 0..<count {
        result = nil  // free the previous result outside the timed region
        let start = ContinuousClock.now
        result = try body()
        let elapsed = ContinuousClock.now - start
        samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    return (result!, samples)
}

func report(_ label: String, _ samples: [Double]) {
    let sorted = samples.sorted()
    let median = sorted[sorted.count / 2]
    let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
    print(String(format: "%-58@ n=%-4d p50 %9.2f ms  p99 %9.2f ms  min %9.2f ms", label as NSString, samples.count, median, p99, sorted[0]))
}

/// Benchmark names: words that are neither options nor option values (`--vnets 1000`).
let arguments: Set<String> = {
    var names: Set<String> = []
    var words = CommandLine.arguments.dropFirst().makeIterator()
    while let word = words.next() {
        if valueOptions.contains(word) { _ = words.next(); continue }
        if !word.hasPrefix("--") && Int(word) == nil { names.insert(word) }
    }
    return names
}()
/// With no names, only the pure benchmarks run (compile); the kernel ones must be named.
func wants(_ name: String) -> Bool { arguments.isEmpty || arguments.contains(name) }
func wantsKernel(_ name: String) -> Bool { arguments.contains(name) }

/// CPU time of the whole process (all threads), in milliseconds.
func processCPUMilliseconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) * 1000 + Double(spec.tv_nsec) / 1e6
}

if wants("compile") {
    let guests = guestCounts([10_000]).first ?? 10_000
    let cluster = SyntheticCluster(guests: guests)
    let (state, buildSamples) = measure("generate") { cluster.state() }
    report("generate state (\(guests) guests × 2 NICs × 20 rules)", buildSamples)
    let (outcome, validateSamples) = measure("validate", repeat: 3) { state.validate() }
    report("validate", validateSamples)
    guard let validated = outcome.validated else {
        print("synthetic state does not validate:", outcome.diagnostics.prefix(5).map(\.description))
        exit(1)
    }
    var cpuSamples: [Double] = []
    let (compiled, compileSamples) = measure("compile", repeat: iterations(9)) { () -> CompiledFirewall in
        let cpuStart = processCPUMilliseconds()
        defer { cpuSamples.append(processCPUMilliseconds() - cpuStart) }
        return FirewallCompiler.compile(validated, node: "bench", features: .minimal)
    }
    let ruleCount = compiled.ruleset.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } }
    let elementCount = compiled.ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } }
    report("compile \(guests) guests (\(ruleCount) nft rules, \(elementCount) set elements)", compileSamples)
    report("  CPU time of those compiles (all threads)", cpuSamples)
    if wants("render") {
        let (text, renderSamples) = measure("render", repeat: 3) { NFTTextRenderer.render(compiled.ruleset) }
        report("render nft text (\(text.utf8.count / 1024) KiB)", renderSamples)
    }
}

do {
    if wantsKernel("cold-apply") { try await benchColdApply() }
    if wantsKernel("guest-change") { try await benchGuestChange() }
    if wantsKernel("guest-change-incremental") { try await benchGuestChangeIncremental() }
    if wantsKernel("ipset") { try await benchIPSet() }
    if wantsKernel("per-packet") { try await benchPerPacket() }
    if wantsKernel("links-reconcile") { try await benchLinksReconcile() }
    if wantsKernel("links-cold") { try await benchLinksCold() }
    if wantsKernel("fdb") { try await benchFDB() }
    if wantsKernel("gen-config") { try generateConfig() }
    if wantsKernel("api-latency") { try benchAPILatency() }
    if wantsKernel("rule-change") { try await benchRuleChange() }
    if wantsKernel("tap-attach") { try await benchTapAttach() }
    if wantsKernel("cluster") { try await benchCluster() }
    if wantsKernel("cluster-raw") { try await benchClusterRaw() }
} catch {
    print("benchmark failed: \(error)")
    exit(1)
}
