import Foundation
import Glibc
import SDNConfig
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNHostNetwork
import SDNReconciler
import SDNTesting
import Synchronization
import Testing

/// `NodeReconciler` runs on the in-memory link and firewall dataplanes, driven by a script: each fixture
/// in `NodeReconcilerFixtures/<case>/` holds the desired state (`config/`), the kernel it starts from, and
/// steps (`scenario`): reconcile runs, each with the outcome it must have, and faults, drift and kernel
/// side effects between them. The golden file is every event, every kernel write (links and firewall
/// interleaved, as they happened) and every report. After each run the test also checks the invariants
/// on its own: converged means a fresh plan is empty and the next run writes nothing; a failure leaves
/// links and ruleset exactly as before the run.
@Suite struct NodeReconcilerScenarioTests {
    static let defaultLimits = NodeReconciler.Limits()
    static let cases = FixtureCase.all(in: fixturesDirectory("..", "NodeReconcilerFixtures"))

    @Test func thereAreScenarios() {
        #expect(Self.cases.count >= 7, "fixtures missing under \(fixturesDirectory("..", "NodeReconcilerFixtures"))")
    }

    @Test(arguments: cases)
    func scenario(_ fixture: FixtureCase) async throws {
        let script = try ReconcilerScript(text: fixture.read("scenario") ?? "")
        let validated = try validate(fixture.path("config"))
        let features: KernelFeatures = script.minimalKernel ? .minimal : .full
        let compiled = await FirewallCompiler.compile(validated, node: script.node, features: features)
        #expect(!compiled.diagnostics.hasErrors, "\(compiled.diagnostics)")
        let desired = NodeDesiredState(node: script.node, network: NodeNetworkBuilder.build(validated, node: script.node),
                                       firewall: compiled.ruleset, needsBridgeNetfilter: features.guestMode == .brNetfilter)

        let recorder = Recorder()
        let linkKernel = InMemoryLinkDataplane(script.initialNetwork)
        let firewallKernel = InMemoryFirewallDataplane(generation: 7)
        let links = RecordingLinks(kernel: linkKernel, recorder: recorder)
        let firewall = RecordingFirewall(kernel: firewallKernel, recorder: recorder)
        let reconciler = NodeReconciler(links: links, firewall: firewall, firewallTables: [(.inet, FirewallNaming.tableName), (.bridge, FirewallNaming.tableName)],
                                        bridgeNetfilter: RecordingBridgeNetfilter(recorder: recorder),
                                        limits: .init(stagedLoadThreshold: script.stagedLoadThreshold),
                                        clock: SteppingClock(), log: ReconcilerLog { level, message in recorder.log("log \(level): \(message)") })

        var run = 0
        for step in script.steps {
            switch step {
            case .reconcile(let expected):
                run += 1
                recorder.append("# reconcile \(run)")
                let linksBefore = withoutIndexes(linkKernel.network)
                let rulesetBefore = firewallKernel.ruleset
                let writesBefore = (linkKernel.writeCount, firewallKernel.committedBatches)
                let report = await reconciler.reconcile(desired, events: { event in recorder.append(describe(event)) })
                recorder.append(contentsOf: describe(report))
                #expect(outcomeName(report.outcome) == expected, "run \(run): \(report.outcome)")
                #expect(report.elapsed > .zero)
                if case .upToDate = report.outcome {
                    #expect(linkKernel.writeCount == writesBefore.0 && firewallKernel.committedBatches == writesBefore.1, "run \(run) wrote to a kernel although up to date")
                }
                try await checkInvariants(report, run: run, reconciler: reconciler, desired: desired, linkKernel: linkKernel,
                                          firewallKernel: firewallKernel, linksBefore: linksBefore, rulesetBefore: rulesetBefore)
            case .rejectFirewallMessage(let message):
                firewallKernel.rejectMessage(message)
                recorder.append("(fault: the next firewall batch fails at message \(message))")
            case .race(let times):
                firewallKernel.anotherWriterCommitsBefore(nextBatches: times)
                recorder.append("(fault: another writer commits before each of the next \(times) firewall batches)")
            case .failLinkWrite(let write):
                links.failWrite(write)
                recorder.append("(fault: link write \(write) of the next run fails)")
            case .kernelAfterLinkWrite(let write, let operation):
                links.kernelSideEffect(after: write, operation)
                recorder.append("(the kernel will \(operation.summary) on its own after link write \(write))")
            case .driftLink(let operation):
                try await linkKernel.perform(operation)
                recorder.append("(drift: someone ran \(operation.summary))")
            case .driftFirewall(let change):
                try firewallKernel.commitAsAnotherWriter([change])
                recorder.append("(drift: someone committed \(change))")
            }
        }
        if script.stagedLoadThreshold < Self.defaultLimits.stagedLoadThreshold {
            #expect(firewallKernel.stagedLoads > 0, "the first load was not staged")
        }
        if script.minimalKernel { #expect(recorder.lines.contains { $0.hasPrefix("enable br_netfilter") }) }
        Golden.assertMatches(recorder.lines.joined(separator: "\n") + "\n", goldenFile: fixture.path("expected.txt"))
    }

    /// What must hold after a run whatever the golden file says.
    func checkInvariants(_ report: ReconcileReport, run: Int, reconciler: NodeReconciler, desired: NodeDesiredState, linkKernel: InMemoryLinkDataplane,
                         firewallKernel: InMemoryFirewallDataplane, linksBefore: ObservedNetwork, rulesetBefore: Ruleset) async throws {
        switch report.outcome {
        case .converged, .upToDate:
            let again = try await reconciler.plan(desired)
            #expect(again.isEmpty, "run \(run) converged but a fresh plan is:\n\(PlanRenderer.render(again))")
            if case .upToDate = report.outcome {
                #expect(report.rounds.isEmpty && report.linkWrites == 0 && report.firewallMessages == 0, "run \(run) wrote although up to date")
                #expect(withoutIndexes(linkKernel.network) == linksBefore && firewallKernel.ruleset == rulesetBefore)
            }
            #expect(report.errors.isEmpty)
        case .failed(let failure), .generationKeptChanging(let failure, _):
            #expect(failure.rolledBack, "run \(run): \(failure)")
            #expect(withoutIndexes(linkKernel.network) == linksBefore, "run \(run) failed but the links changed")
            #expect(firewallKernel.ruleset == rulesetBefore, "run \(run) failed but our ruleset changed")
            #expect(!report.errors.isEmpty)
        default:
            #expect(!report.converged)
        }
    }
}

// MARK: - The script

/// The `scenario` file. Kernel: `node NAME`, `physical NAME…`, `tap NAME…`, `kernel minimal` (compile for
/// a kernel without bridge conntrack: br_netfilter mode), `staged-load-threshold N`. Steps, in order:
/// `reconcile OUTCOME` (upToDate, converged, failed, generationKeptChanging, diverged, …),
/// `reject-firewall-message N`, `race N` (another writer commits before each of the next N batches),
/// `fail-link-write N` (of the next run), `kernel-after-link-write N set-mtu LINK MTU` (the kernel changes
/// something on its own after our Nth write of the next run), `drift-link-mtu LINK MTU`,
/// `drift-firewall-flush FAMILY TABLE CHAIN`.
struct ReconcilerScript {
    enum Step {
        case reconcile(expect: String)
        case rejectFirewallMessage(Int)
        case race(Int)
        case failLinkWrite(Int)
        case kernelAfterLinkWrite(Int, LinkOperation)
        case driftLink(LinkOperation)
        case driftFirewall(FirewallChange)
    }

    var node = ""
    var initialNetwork = ObservedNetwork()
    var minimalKernel = false
    var stagedLoadThreshold = 50_000
    var steps: [Step] = []

    init(text: String) throws {
        var index: Int32 = 1
        func add(_ spec: LinkSpec) {
            initialNetwork.links.append(ObservedLink(spec: spec, index: index, operationallyUp: spec.up))
            index += 1
        }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let words = line.split(separator: " ").map(String.init)
            guard let keyword = words.first else { continue }
            let arguments = Array(words.dropFirst())
            func number(_ position: Int) throws -> Int {
                guard position < arguments.count, let value = Int(arguments[position]) else { throw ScenarioError(line: String(line)) }
                return value
            }
            switch keyword {
            case "node": node = arguments.first ?? ""
            case "physical": arguments.forEach { add(LinkSpec(name: $0, kind: .other(""), mtu: 1500, up: true)) }
            case "tap": arguments.forEach { add(LinkSpec(name: $0, kind: .tap, mtu: 1500, up: false)) }
            case "kernel" where arguments == ["minimal"]: minimalKernel = true
            case "staged-load-threshold": stagedLoadThreshold = try number(0)
            case "reconcile" where arguments.count == 1: steps.append(.reconcile(expect: arguments[0]))
            case "reject-firewall-message": steps.append(.rejectFirewallMessage(try number(0)))
            case "race": steps.append(.race(try number(0)))
            case "fail-link-write": steps.append(.failLinkWrite(try number(0)))
            case "kernel-after-link-write" where arguments.count == 4 && arguments[1] == "set-mtu":
                steps.append(.kernelAfterLinkWrite(try number(0), .setMTU(name: arguments[2], mtu: try number(3))))
            case "drift-link-mtu" where arguments.count == 2:
                steps.append(.driftLink(.setMTU(name: arguments[0], mtu: try number(1))))
            case "drift-firewall-flush" where arguments.count == 3:
                guard let family = TableFamily(rawValue: arguments[0]) else { throw ScenarioError(line: String(line)) }
                steps.append(.driftFirewall(.flushChain(family, table: arguments[1], chain: arguments[2])))
            default: throw ScenarioError(line: String(line))
            }
        }
    }
}

// MARK: - Recording dataplanes

/// One operation trace for both dataplanes, in the order things happened.
final class Recorder: Sendable {
    private let entries = Mutex<[String]>([])
    var lines: [String] { entries.withLock { $0 } }
    func append(_ line: String) { entries.withLock { $0.append(line) } }
    func append(contentsOf lines: [String]) { entries.withLock { $0 += lines } }
    /// Log lines are kept apart from the trace's own lines by their prefix.
    func log(_ line: String) { append(line) }
}

/// The in-memory link kernel, with its trace copied into the shared one, a scripted failing write and
/// scripted side effects of the kernel's own (counted per run from the first write after they are set).
final class RecordingLinks: LinkDataplane {
    private struct Script {
        var writes = 0
        var failing: Int?
        var sideEffects: [Int: LinkOperation] = [:]
    }

    let kernel: InMemoryLinkDataplane
    let recorder: Recorder
    private let script = Mutex(Script())

    init(kernel: InMemoryLinkDataplane, recorder: Recorder) {
        self.kernel = kernel
        self.recorder = recorder
    }

    func failWrite(_ write: Int) { script.withLock { $0.failing = write; $0.writes = 0 } }
    func kernelSideEffect(after write: Int, _ operation: LinkOperation) { script.withLock { $0.sideEffects[write] = operation; $0.writes = 0 } }

    var writeCount: Int { kernel.writeCount }
    func observe(_ scope: ObservationScope) async throws -> ObservedNetwork { try await kernel.observe(scope) }
    func linkEvents() -> AsyncThrowingStream<LinkEvent, any Error> { kernel.linkEvents() }

    func perform(_ operation: LinkOperation) async throws(LinkOperationError) {
        let (write, failing, sideEffect) = script.withLock { script in
            script.writes += 1
            let failing = script.failing == script.writes
            if failing { script.failing = nil }
            return (script.writes, failing, script.sideEffects.removeValue(forKey: script.writes))
        }
        if failing {
            recorder.append("FAIL \(operation.summary) (injected errno \(EINVAL), link write \(write))")
            throw LinkOperationError(operation: operation, errno: EINVAL, message: "injected fault: \(String(cString: strerror(EINVAL)))")
        }
        let start = kernel.trace.count
        do {
            try await kernel.perform(operation)
            recorder.append(contentsOf: Array(kernel.trace.dropFirst(start)))
        } catch {
            recorder.append(contentsOf: Array(kernel.trace.dropFirst(start)))
            throw error
        }
        if let sideEffect {
            try? await kernel.perform(sideEffect)
            recorder.append("  (the kernel, on its own: \(sideEffect.summary))")
        }
    }
}

/// The in-memory firewall kernel, with its trace copied into the shared one: batches of up to
/// `listedMessages` messages change by change, larger ones (first loads) as counts per kind of change.
final class RecordingFirewall: FirewallDataplane {
    static let listedMessages = 16
    let kernel: InMemoryFirewallDataplane
    let recorder: Recorder

    init(kernel: InMemoryFirewallDataplane, recorder: Recorder) {
        self.kernel = kernel
        self.recorder = recorder
    }

    func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall { try await kernel.observe(tables: tables) }

    func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        let start = kernel.trace.count
        defer { record(kernel.trace.dropFirst(start)) }
        return try await kernel.apply(changes, expectedGeneration: expectedGeneration)
    }

    func applyStaged(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        let start = kernel.trace.count
        defer { record(kernel.trace.dropFirst(start)) }
        return try await kernel.applyStaged(changes, expectedGeneration: expectedGeneration)
    }
}

extension RecordingFirewall {
    func record(_ lines: ArraySlice<String>) {
        let changes = lines.filter { $0.hasPrefix("  ") }
        guard changes.count > Self.listedMessages else { return recorder.append(contentsOf: Array(lines)) }
        var counts: [String: Int] = [:]
        var order: [String] = []
        for change in changes {
            let kind = change.split(separator: " ").prefix(2).joined(separator: " ")
            if counts[kind] == nil { order.append(kind) }
            counts[kind, default: 0] += 1
        }
        recorder.append(contentsOf: lines.filter { !$0.hasPrefix("  ") })
        recorder.append("  " + order.map { "\(counts[$0]!) × \($0)" }.joined(separator: ", "))
    }
}

struct RecordingBridgeNetfilter: BridgeNetfilterSwitch {
    let recorder: Recorder
    func enable() throws { recorder.append("enable br_netfilter (bridge-nf-call-iptables, bridge-nf-call-ip6tables)") }
}

// MARK: - Describing what happened

func describe(_ event: ReconcileEvent) -> String {
    switch event {
    case .planned(let plan, let round):
        let lines = PlanRenderer.render(plan, firewallLimit: 3).split(separator: "\n", omittingEmptySubsequences: false)
        return (["event: planned (round \(round))"] + lines.map { "  | " + $0 }).joined(separator: "\n")
    case .applied(let report, let round):
        return "event: applied (round \(round)): \(report.linkWrites) link writes, \(report.firewallMessages) firewall messages"
    case .retrying(let failure, let attempt):
        return "event: retrying after attempt \(attempt): \(failure.reason)"
    }
}

func describe(_ report: ReconcileReport) -> [String] {
    var lines = ["outcome: \(outcomeName(report.outcome))",
                 "report: \(report.rounds.count) rounds, \(report.stepsApplied) steps, \(report.linkWrites) link writes, "
                 + "\(report.firewallMessages) firewall messages, \(report.generationRetries) generation retries, converged: \(report.converged)"]
    if case .failed(let failure) = report.outcome { lines += failure.description.split(separator: "\n").map { "failure: " + $0 } }
    if case .generationKeptChanging(let failure, let attempts) = report.outcome {
        lines.append("gave up after \(attempts) attempts: \(failure.reason)")
    }
    lines += report.errors.map { "error: \($0)" }
    return lines
}

func outcomeName(_ outcome: ReconcileReport.Outcome) -> String {
    switch outcome {
    case .upToDate: "upToDate"
    case .converged: "converged"
    case .dryRun: "dryRun"
    case .declined: "declined"
    case .refused: "refused"
    case .failed: "failed"
    case .generationKeptChanging: "generationKeptChanging"
    case .diverged: "diverged"
    case .cannotObserve: "cannotObserve"
    case .cannotEnableBridgeNetfilter: "cannotEnableBridgeNetfilter"
    }
}
