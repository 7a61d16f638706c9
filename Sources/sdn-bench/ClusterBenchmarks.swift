import Dispatch
import Foundation
import Glibc
import SDNConfig
import SDNDaemon
import SDNEtcd
import SDNModel
import SDNNFTables
import SDNStore
import Synchronization

// The cluster's benchmarks (issue 12): convergence through etcd, with simulated nodes. `scripts/bench-cluster.sh`
// starts a private etcd and runs them.
//
//   sdn-bench cluster --etcd URL[,URL…] [--agents 3] [--changes 100] [--guests 1000] [--ipset-size 1000]
//                     [--work compile|validate|read] [--watch prefix|target] [--prefix /sdnbench-PID/]
//                     [--layout single|split] [--no-parse-cache]
//   sdn-bench cluster-raw --etcd URL[,URL…] [--agents 3] [--changes 100]
//
// `cluster`: N agents, each a node minus its kernel, with its own `EtcdStateStore` (own client, own
// connections and watch, as on separate machines): it keeps its liveness on a lease, and on every target
// change reads the target, reads the revision, loads, validates and compiles it for its node name
// (`RevisionCompiler`, as sdnd does before touching the kernel), records its applied generation, and once
// records its guests' ports as installed. A driver with its own store makes M revisions, each changing one
// guest's rule, and chooses each as the target; it times from `setTarget` returning until every agent's
// `nodes/applied/<node>` record carries that generation (seen on a watch of those keys). Each agent keeps
// the parsed documents of its last revision as sdnd does (`ParsedDocumentCache`; `--no-parse-cache` turns
// it off). `--layout single` writes the site as one topology and one policy file; `split`, as the Proxmox
// importer does, with a policy file per guest (`Policies/guests/ID.yaml`), so that a change edits one
// small file.
//
// `cluster-raw`: the same loop on bare etcd keys through the same `EtcdClient` (one put of the target, N
// watchers that each put their acknowledgement): what etcd and the HTTP gateway cost without our store,
// documents or compile. The ratio of the two is what our layer adds.

/// What an agent does with a revision between reading it and reporting it applied.
enum AgentWork: String {
    /// `RevisionCompiler.compile`: load, validate, compile the firewall and the links for its node.
    case compile
    /// `RevisionCompiler.load`: load and validate only.
    case validate
    /// Read the revision's documents and report.
    case read
}

/// One node minus its kernel.
final class SimulatedNode: Sendable {
    let name: String
    let store: EtcdStateStore
    let work: AgentWork
    /// Watch only the target key (`--watch target`) instead of the store's `changes()`, which watches the
    /// whole prefix and so receives every revision's documents too: what narrowing the watch would save.
    let watchTargetOnly: Bool
    /// Wall time of each revision's work (the compile), in ms.
    let workTimes = Mutex<[Double]>([])
    let failures = Mutex<[String]>([])
    /// Its guests' ports are recorded as installed (once, after its first apply).
    let portsRecorded = Atomic<Bool>(false)
    /// The last revision's documents, parsed (as sdnd keeps them); nil: every revision parsed whole.
    let parsedDocuments: ParsedDocumentCache?

    init(name: String, store: EtcdStateStore, work: AgentWork, watchTargetOnly: Bool, parseCache: Bool) {
        self.name = name
        self.store = store
        self.work = work
        self.watchTargetOnly = watchTargetOnly
        parsedDocuments = parseCache ? ParsedDocumentCache() : nil
    }

    /// Runs until cancelled.
    func run() async {
        let alive = Task {
            while !Task.isCancelled {
                do { try await store.keepNodeAlive(name, ttl: .seconds(10)) } catch { note("liveness: \(error)") }
                try? await Task.sleep(for: .seconds(3))
            }
        }
        defer { alive.cancel() }
        var applied: Int64 = 0
        if watchTargetOnly {
            do {
                let watch = try await store.client.watch(EtcdWatchCreateRequest(key: Data((store.prefix + "target").utf8)))
                await catchUp(applied: &applied)
                for try await response in watch where !response.events.isEmpty {
                    if Task.isCancelled { break }
                    await catchUp(applied: &applied)
                }
            } catch {
                note("target watch: \(error)")
            }
            return
        }
        let changes = store.changes()
        await catchUp(applied: &applied)
        for await change in changes {
            if Task.isCancelled { break }
            guard case .targetChanged = change else { continue }
            await catchUp(applied: &applied)
        }
    }

    /// What sdnd's node controller does on a target change, minus the kernel: several changes queued
    /// while it worked are one catch-up to the newest target.
    private func catchUp(applied: inout Int64) async {
        do {
            guard let target = try await store.targetState(), target.generation > applied else { return }
            // As sdnd does: the documents alone.
            guard let documents = try await store.documents(of: target.revision) else {
                note("revision \(target.revision) missing")
                return
            }
            let name = name, work = work, cache = parsedDocuments
            // Off the cooperative pool, so a compile does not hold up the watches and the driver's clock.
            let (ports, elapsed) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<([String], Double), any Error>) in
                DispatchQueue.global().async {
                    let start = ContinuousClock.now
                    do {
                        var ports: [String] = []
                        switch work {
                        case .compile: ports = try RevisionCompiler.compile(documents, node: name, features: .minimal, cache: cache).guestPorts
                        case .validate: _ = try RevisionCompiler.load(documents, cache: cache)
                        case .read: break
                        }
                        continuation.resume(returning: (ports, milliseconds(ContinuousClock.now - start)))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
            workTimes.withLock { $0.append(elapsed) }
            try await store.recordNodeStatus(NodeApplyStatus(node: name, appliedRevision: target.revision, appliedGeneration: target.generation,
                                                             generation: target.generation, lastError: nil, drift: false, updatedAt: Date()))
            applied = target.generation
            if !portsRecorded.load(ordering: .acquiring) {
                let now = Date()
                let installed = ports.map { port in
                    InstalledPort(port: port, node: name, guest: Int(port.drop { !$0.isNumber }.prefix { $0.isNumber }) ?? 0,
                                  generation: target.generation, installedAt: now)
                }
                try await store.recordInstalledPorts(installed, node: name)
                portsRecorded.store(true, ordering: .releasing)
            }
        } catch {
            note("\(error)")
        }
    }

    private func note(_ message: String) {
        failures.withLock { if $0.count < 5 { $0.append(message) } }
    }
}

// MARK: - Waiting for every node

/// Watches acknowledgement keys under a prefix and tells when every expected node has acknowledged a
/// generation. The watch starts at the revision of a read of those keys, so nothing is missed between.
final class AcknowledgementWatch: Sendable {
    private struct State {
        var generations: [String: Int64] = [:]
        var waiting: (generation: Int64, continuation: CheckedContinuation<ContinuousClock.Instant, Never>)?
    }
    private let state = Mutex(State())
    private let nodes: Set<String>
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// - Parameter generation: the generation an acknowledgement's value carries (nil: ignore it).
    init(client: EtcdClient, prefix: Data, nodes: Set<String>, generation: @escaping @Sendable (Data) -> Int64?) async throws {
        self.nodes = nodes
        let current = try await client.range(.prefix(prefix))
        state.withLock { state in
            for value in current.kvs {
                state.generations[String(value.keyString.dropFirst(prefix.count))] = generation(value.value) ?? 0
            }
        }
        let watch = try await client.watch(.prefix(prefix, startRevision: current.header.revision + 1))
        let prefixLength = prefix.count
        task.withLock {
            $0 = Task { [weak self] in
                do {
                    for try await response in watch {
                        let now = ContinuousClock.now
                        for event in response.events where event.kind == .put {
                            self?.acknowledged(String(event.keyValue.keyString.dropFirst(prefixLength)),
                                               generation: generation(event.keyValue.value) ?? 0, at: now)
                        }
                    }
                } catch {
                    FileHandle.standardError.write("acknowledgement watch ended: \(error)\n".data(using: .utf8)!)
                }
            }
        }
    }

    func stop() { task.withLock { $0?.cancel() } }

    private func acknowledged(_ node: String, generation: Int64, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            state.generations[node] = max(state.generations[node] ?? 0, generation)
            if let waiting = state.waiting, reached(waiting.generation, in: state.generations) {
                state.waiting = nil
                waiting.continuation.resume(returning: instant)
            }
        }
    }

    private func reached(_ generation: Int64, in generations: [String: Int64]) -> Bool {
        nodes.allSatisfy { (generations[$0] ?? 0) >= generation }
    }

    /// When every node had acknowledged `generation` (now, if they already have).
    func allReached(_ generation: Int64) async -> ContinuousClock.Instant {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                if reached(generation, in: state.generations) {
                    continuation.resume(returning: .now)
                } else {
                    state.waiting = (generation, continuation)
                }
            }
        }
    }

    /// How many nodes hold at least `generation` (for a timeout's message).
    func count(atLeast generation: Int64) -> Int {
        state.withLock { state in nodes.filter { (state.generations[$0] ?? 0) >= generation }.count }
    }
}

/// The body's result; after `seconds` without one, the benchmark stops (exit 1) saying what it waited for.
/// (A waiter that never resumes cannot be cancelled, so the process ends instead of throwing.)
func withTimeout<T: Sendable>(seconds: Double, _ what: String, _ body: @escaping @Sendable () async -> T) async throws -> T {
    let watchdog = Task.detached {
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        print("benchmark failed: \(what): nothing after \(seconds) s")
        exit(1)
    }
    defer { watchdog.cancel() }
    return await body()
}

// MARK: - etcd's load

/// What etcd's members say about themselves: request counters from `/metrics` (summed over the members),
/// the database size (`/v3/maintenance/status`, the largest member's), raft commits (the most any member saw).
struct EtcdLoad {
    var startedByMethod: [String: Double] = [:]
    var proposalsCommitted: Double = 0
    var receivedBytes: Double = 0
    var sentBytes: Double = 0
    var dbSize: Int64 = 0
    var dbSizeInUse: Int64 = 0

    static func read(_ endpoints: [String]) throws -> EtcdLoad {
        var load = EtcdLoad()
        for endpoint in endpoints {
            let connection = try HTTPConnection(try HTTPEndpoint.parse(url: endpoint))
            let metrics = try connection.exchange("GET", "/metrics", token: nil)
            for line in metrics.text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                let name = line[..<space]
                if name.hasPrefix("grpc_server_started_total{"), let method = label("grpc_method", in: name) {
                    load.startedByMethod[method, default: 0] += value
                } else if name == "etcd_server_proposals_committed_total" {
                    load.proposalsCommitted = max(load.proposalsCommitted, value)
                } else if name == "etcd_network_client_grpc_received_bytes_total" {
                    load.receivedBytes += value
                } else if name == "etcd_network_client_grpc_sent_bytes_total" {
                    load.sentBytes += value
                }
            }
            let status = try connection.exchange("POST", "/v3/maintenance/status", token: nil, body: "{}")
            if let object = try? JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any] {
                load.dbSize = max(load.dbSize, Int64("\(object["dbSize"] ?? 0)") ?? 0)
                load.dbSizeInUse = max(load.dbSizeInUse, Int64("\(object["dbSizeInUse"] ?? 0)") ?? 0)
            }
        }
        return load
    }

    private static func label(_ name: String, in series: Substring) -> String? {
        guard let start = series.range(of: name + "=\"") else { return nil }
        return String(series[start.upperBound...].prefix { $0 != "\"" })
    }

    /// The change from `before`, as one line per figure.
    func describe(since before: EtcdLoad, per changes: Int, agents: Int) -> [String] {
        let methods = ["Range", "Txn", "Put", "DeleteRange", "Watch", "LeaseGrant", "LeaseKeepAlive", "LeaseRevoke"]
        var lines: [String] = []
        var total = 0.0
        var parts: [String] = []
        for method in methods {
            let delta = (startedByMethod[method] ?? 0) - (before.startedByMethod[method] ?? 0)
            total += delta
            if delta > 0 { parts.append("\(method) \(Int(delta))") }
        }
        let others = startedByMethod.reduce(0.0) { $0 + ($1.key == "Status" || methods.contains($1.key) ? 0 : $1.value - (before.startedByMethod[$1.key] ?? 0)) }
        if others > 0 { parts.append("other \(Int(others))") }
        lines.append("etcd requests (gRPC calls started, all members): \(Int(total)) = \(parts.joined(separator: ", "))")
        lines.append(String(format: "  per change: %.1f requests, %.2f per agent; raft proposals committed %.0f (%.1f per change)", total / Double(changes),
                            total / Double(changes) / Double(max(agents, 1)), proposalsCommitted - before.proposalsCommitted,
                            (proposalsCommitted - before.proposalsCommitted) / Double(changes)))
        lines.append(String(format: "  client traffic: received %.1f MB, sent %.1f MB (%.1f KB / %.1f KB per change)",
                            (receivedBytes - before.receivedBytes) / 1e6, (sentBytes - before.sentBytes) / 1e6,
                            (receivedBytes - before.receivedBytes) / 1e3 / Double(changes), (sentBytes - before.sentBytes) / 1e3 / Double(changes)))
        lines.append("  etcd db size: \(before.dbSize) → \(dbSize) bytes (in use \(before.dbSizeInUse) → \(dbSizeInUse)), +\((dbSize - before.dbSize) / Int64(changes)) bytes per change")
        return lines
    }
}

/// Keys and bytes (key + value) under the prefix, by kind (`revisions`, `history`, `nodes/applied`, …).
struct KeyCensus {
    var byKind: [String: (keys: Int, bytes: Int)] = [:]
    var keys: Int { byKind.values.reduce(0) { $0 + $1.keys } }
    var bytes: Int { byKind.values.reduce(0) { $0 + $1.bytes } }

    static func take(_ client: EtcdClient, prefix: String) async throws -> KeyCensus {
        var census = KeyCensus()
        var request = EtcdRangeRequest.prefix(Data(prefix.utf8))
        request.countOnly = true
        let counted = try await client.range(request).count
        // Paged: a revision's documents are large, and etcd's gateway answers one message.
        var start = Data(prefix.utf8)
        let end = EtcdKeyRange.end(ofPrefix: start)
        var seen = 0
        while true {
            var page = EtcdRangeRequest(key: start, rangeEnd: end)
            page.limit = 200
            let response = try await client.range(page)
            for value in response.kvs {
                let suffix = value.keyString.dropFirst(prefix.count)
                let parts = suffix.split(separator: "/", omittingEmptySubsequences: false)
                let kind = parts.first == "nodes" && parts.count > 1 ? "nodes/\(parts[1])" : String(parts.first ?? "")
                census.byKind[kind, default: (0, 0)].keys += 1
                census.byKind[kind, default: (0, 0)].bytes += value.key.count + value.value.count
            }
            seen += response.kvs.count
            guard response.more, let last = response.kvs.last else { break }
            start = last.key + Data([0])
        }
        if seen != counted { print("  (key census: count_only said \(counted) keys, the pages gave \(seen))") }
        return census
    }

    func describe(_ title: String) -> [String] {
        var lines = ["\(title): \(keys) keys, \(bytes) bytes (keys + values)"]
        for (kind, figures) in byKind.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            lines.append(String(format: "  %-16@ %6d keys %12d bytes", kind as NSString, figures.keys, figures.bytes))
        }
        return lines
    }
}

// MARK: - The benchmarks

func etcdEndpoints() throws -> [String] {
    guard let list = stringOption("etcd") else { throw BenchFailure("give --etcd http://127.0.0.1:2379[,…]") }
    return list.split(separator: ",").map(String.init)
}

func reportConvergence(_ label: String, _ samples: [Double]) {
    guard !samples.isEmpty else { print("\(label): no samples"); return }
    let sorted = samples.sorted()
    func at(_ quantile: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))] }
    print(String(format: "%@: n=%d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  min %.1f ms", label, sorted.count,
                 at(0.5), at(0.9), at(0.99), sorted.last!, sorted[0]))
}

/// `sdn-bench cluster`.
func benchCluster() async throws {
    let endpoints = try etcdEndpoints()
    let agents = integerOption("agents", 3)
    let changes = integerOption("changes", 100)
    let guests = integerOption("guests", 1_000)
    let prefix = stringOption("prefix") ?? "/sdnbench-\(getpid())/"
    guard let work = AgentWork(rawValue: stringOption("work") ?? "compile") else { throw BenchFailure("--work compile|validate|read") }
    let watchTargetOnly = stringOption("watch") == "target"
    var cluster = SyntheticCluster(guests: guests)
    cluster.nodeCount = max(agents, 2)
    cluster.ipSetSize = integerOption("ipset-size", 1_000)
    let nodeNames = Array(cluster.nodeNames.prefix(agents))

    var state = cluster.state()
    guard state.validate().validated != nil else { throw BenchFailure("cluster: the synthetic state does not validate") }
    let splitLayout = stringOption("layout") == "split"
    let parseCache = !CommandLine.arguments.contains("--no-parse-cache")
    let topology = StoredDocument(path: "Topologies/sdn.yaml", text: try ConfigRenderer.topology(state).yaml())
    /// The policy documents; in the split layout, `guests` (indices) are rendered again and the other
    /// guests' files are taken from `previous`, as a user edits one file.
    func policies(rendering guests: [Int]? = nil, previous: [StoredDocument] = []) throws -> [StoredDocument] {
        guard splitLayout else { return [StoredDocument(path: "Policies/sdn.yaml", text: try ConfigRenderer.policy(state, style: .asWritten).yaml())] }
        var shared = state
        shared.firewall.guests = []
        var documents = [StoredDocument(path: "Policies/sdn.yaml", text: try ConfigRenderer.policy(shared, style: .asWritten).yaml())]
        for (index, policy) in state.firewall.guests.enumerated() {
            guard case .guest(let id) = policy.scope else { continue }
            let path = "Policies/guests/\(id).yaml"
            if let guests, !guests.contains(index), let kept = previous.first(where: { $0.path == path }) {
                documents.append(kept)
                continue
            }
            var alone = DesiredState()
            alone.firewall.guests = [policy]
            documents.append(StoredDocument(path: path, text: try ConfigRenderer.policy(alone, style: .asWritten).yaml()))
        }
        return documents
    }
    let firstPolicies = try policies()
    var documents = [topology] + firstPolicies
    let policyBytes = firstPolicies.reduce(0) { $0 + $1.text.utf8.count }
    print("cluster: \(agents) agents (\(work.rawValue)\(watchTargetOnly ? ", watching the target key only" : "")\(parseCache ? ", parse cache" : ", no parse cache")), \(changes) changes, \(guests) guests × \(cluster.nicsPerGuest) NICs × \(cluster.rulesPerGuest) rules over \(cluster.nodeCount) nodes, 2 IP sets of \(cluster.ipSetSize); documents (\(splitLayout ? "split" : "single") layout) \(topology.text.utf8.count / 1024) KB topology + \(policyBytes / 1024) KB in \(firstPolicies.count) policy files; etcd \(endpoints.joined(separator: ",")) prefix \(prefix)")
    let loadedBack = try RevisionCompiler.load(documents).value
    guard loadedBack.guests.count == guests, loadedBack.firewall.guests.count == state.firewall.guests.count else {
        throw BenchFailure("cluster: the rendered documents do not load back into the synthetic state")
    }

    // One node's work alone, for scale: what each agent does per change on an idle machine.
    let (_, soloCompile) = try measure("solo", repeat: 3) { () throws -> Int in
        switch work {
        case .compile: return try RevisionCompiler.compile(documents, node: nodeNames[0], features: .minimal).guestPorts.count
        case .validate: _ = try RevisionCompiler.load(documents); return 0
        case .read: return 0
        }
    }
    report("one agent's \(work.rawValue) of a revision, alone (node01)", soloCompile)
    if work == .compile {
        let (_, soloLoad) = try measure("load", repeat: 3) { try RevisionCompiler.load(documents).value.guests.count }
        report("  of which load + validate (RevisionCompiler.load)", soloLoad)
        // The same with the documents of the revision before parsed: one guest's rules changed.
        let cache = ParsedDocumentCache()
        var edited = state
        edited.firewall.guests[0].rules = cluster.guestRules(index: 0, variant: 5)
        let editedDocuments: [StoredDocument] = try {
            let saved = state
            defer { state = saved }
            state = edited
            return [topology] + (try policies(rendering: [0], previous: firstPolicies))
        }()
        var cachedCompile: [Double] = []
        for _ in 0..<3 {
            _ = try RevisionCompiler.load(documents, cache: cache)
            cachedCompile += try measure("cached") {
                try RevisionCompiler.compile(editedDocuments, node: nodeNames[0], features: .minimal, cache: cache).guestPorts.count
            }.1
        }
        report("one agent's compile of a one-guest change, the revision before it parsed (ParsedDocumentCache)", cachedCompile)
    }

    let driver = try await EtcdStateStore.connect(endpoints: endpoints, prefix: prefix)
    defer { driver.close() }
    let loadAtStart = try EtcdLoad.read(endpoints)
    let censusAtStart = try await KeyCensus.take(driver.client, prefix: prefix)
    if censusAtStart.keys > 0 { throw BenchFailure("cluster: \(prefix) already holds \(censusAtStart.keys) keys; give a fresh --prefix") }

    let nodes = try await withThrowingTaskGroup(of: SimulatedNode.self) { group in
        for name in nodeNames {
            group.addTask { SimulatedNode(name: name, store: try await EtcdStateStore.connect(endpoints: endpoints, prefix: prefix), work: work,
                                          watchTargetOnly: watchTargetOnly, parseCache: parseCache) }
        }
        return try await group.reduce(into: []) { $0.append($1) }
    }
    let running = nodes.map { node in Task { await node.run() } }
    defer { for task in running { task.cancel() }; for node in nodes { node.store.close() } }

    let appliedPrefix = Data((prefix + "nodes/applied/").utf8)
    let acknowledgements = try await AcknowledgementWatch(client: driver.client, prefix: appliedPrefix, nodes: Set(nodeNames)) { value in
        (try? JSONDecoder().decode(NodeApplyStatus.self, from: value))?.appliedGeneration
    }
    defer { acknowledgements.stop() }

    // The first target: every agent compiles and records its ports (not timed as a change).
    var revision = try await driver.createRevision(documents: documents, author: "bench", message: "initial", expectedHead: .some(nil))
    let firstStart = ContinuousClock.now
    try await driver.setTarget(revision.number, author: "bench")
    let firstTarget = try await driver.targetState()!
    let firstDone = try await withTimeout(seconds: 300, "the first target") { await acknowledgements.allReached(firstTarget.generation) }
    print(String(format: "first target (every agent's first compile) → all applied: %.1f ms", milliseconds(firstDone - firstStart)))
    // Each agent records its ports after its applied record: the census waits for them.
    for _ in 0..<3000 where !nodes.allSatisfy({ $0.portsRecorded.load(ordering: .acquiring) }) { try await Task.sleep(for: .milliseconds(10)) }
    for node in nodes { node.workTimes.withLock { $0.removeAll() } }

    let census = try await KeyCensus.take(driver.client, prefix: prefix)
    for line in census.describe("keys after one revision, \(agents) nodes' applied records and installed ports (\(guests) guests)") { print(line) }
    let loadBefore = try EtcdLoad.read(endpoints)

    var convergence: [Double] = []
    var setTargetTimes: [Double] = []
    var prepareTimes: [Double] = []
    for change in 1...changes {
        // One guest's rules move to another variant (a port moves): one rule of one guest differs.
        let guest = (change * 7) % guests
        let (newRevision, prepare) = try await timedAsync { () async throws -> Revision in
            state.firewall.guests[guest].rules = cluster.guestRules(index: guest, variant: change % 9 + 1)
            documents = [topology] + (try policies(rendering: [guest], previous: documents))
            return try await driver.createRevision(documents: documents, author: "bench", message: "change \(change)", expectedHead: .some(revision.number))
        }
        revision = newRevision
        prepareTimes.append(prepare)
        let setStart = ContinuousClock.now
        try await driver.setTarget(revision.number, author: "bench")
        let committed = ContinuousClock.now
        setTargetTimes.append(milliseconds(committed - setStart))
        // The generation setTarget made: the previous one plus one (the driver is the only writer).
        let generation = firstTarget.generation + Int64(change)
        let done = try await withTimeout(seconds: 120, "change \(change) (\(acknowledgements.count(atLeast: generation))/\(agents) agents had applied it at the start)") {
            await acknowledgements.allReached(generation)
        }
        convergence.append(max(0, milliseconds(done - committed)))
    }
    let loadAfter = try EtcdLoad.read(endpoints)
    let censusAfter = try await KeyCensus.take(driver.client, prefix: prefix)
    let liveness = try await driver.liveNodes()

    print("")
    reportConvergence("commit (setTarget returned) → all \(agents) agents applied", convergence)
    reportConvergence("  setTarget itself (read target + txn)", setTargetTimes)
    reportConvergence("  not timed: render + createRevision per change", prepareTimes)
    let workTimes = nodes.flatMap { node in node.workTimes.withLock { $0 } }
    reportConvergence("  each agent's \(work.rawValue) per change, under the run's contention", workTimes)
    print("agents: \(workTimes.count) revisions worked on for \(changes) changes (\(agents * changes) if none coalesced); live: \(liveness.count)/\(agents)")
    for node in nodes {
        let failures = node.failures.withLock { $0 }
        if !failures.isEmpty { print("  \(node.name) failures: \(failures.joined(separator: "; "))") }
    }
    for line in loadAfter.describe(since: loadBefore, per: changes, agents: agents) { print(line) }
    print("etcd db size from the start of the run (before the first revision): \(loadAtStart.dbSize) → \(loadAfter.dbSize) bytes")
    for line in censusAfter.describe("keys after \(changes) more revisions") { print(line) }
    for kind in ["revisions", "history"] {
        let grown = (censusAfter.byKind[kind]?.bytes ?? 0) - (census.byKind[kind]?.bytes ?? 0)
        print("  \(kind)/ grew \(grown / changes) bytes per revision")
    }
    print("  every key: +\((censusAfter.bytes - census.bytes) / changes) bytes and +\(Double(censusAfter.keys - census.keys) / Double(changes)) keys per revision")

    if CommandLine.arguments.contains("--keep") { return }
    _ = try await driver.client.deleteRange(EtcdDeleteRangeRequest(key: Data(prefix.utf8), rangeEnd: EtcdKeyRange.end(ofPrefix: Data(prefix.utf8))))
}

/// `sdn-bench cluster-raw`: the reference, etcd alone through the same client.
func benchClusterRaw() async throws {
    let endpoints = try etcdEndpoints()
    let agents = integerOption("agents", 3)
    let changes = integerOption("changes", 100)
    let prefix = stringOption("prefix") ?? "/sdnbench-raw-\(getpid())/"
    let targetKey = Data((prefix + "target").utf8)
    let acknowledgementPrefix = prefix + "applied/"
    let names = (1...agents).map { "agent\($0)" }
    print("cluster-raw: \(agents) watchers, \(changes) puts; etcd \(endpoints.joined(separator: ",")) prefix \(prefix)")

    let driver = try EtcdClient(endpoints: endpoints)
    let acknowledgements = try await AcknowledgementWatch(client: driver, prefix: Data(acknowledgementPrefix.utf8), nodes: Set(names)) { value in
        Int64(String(decoding: value, as: UTF8.self))
    }
    defer { acknowledgements.stop() }
    // Each watcher: its own client, a watch on the target key, a put of what it saw.
    let watchers = try await withThrowingTaskGroup(of: Task<Void, Never>.self) { group in
        for name in names {
            group.addTask {
                let client = try EtcdClient(endpoints: endpoints)
                let watch = try await client.watch(EtcdWatchCreateRequest(key: targetKey))
                return Task {
                    do {
                        for try await response in watch {
                            for event in response.events where event.kind == .put {
                                _ = try await client.put(EtcdPutRequest(key: Data((acknowledgementPrefix + name).utf8), value: event.keyValue.value))
                            }
                        }
                    } catch where !(error is CancellationError) {
                        FileHandle.standardError.write("\(name): \(error)\n".data(using: .utf8)!)
                    } catch {}
                    _ = client
                }
            }
        }
        return try await group.reduce(into: []) { $0.append($1) }
    }
    defer { for task in watchers { task.cancel() } }
    // The watches' creation is confirmed by etcd asynchronously: a first put every watcher answers.
    _ = try await driver.put(EtcdPutRequest(key: targetKey, value: Data("0".utf8)))
    try await Task.sleep(for: .milliseconds(200))
    _ = try await driver.put(EtcdPutRequest(key: targetKey, value: Data("1".utf8)))
    _ = try await withTimeout(seconds: 30, "the first put") { await acknowledgements.allReached(1) }
    let loadBefore = try EtcdLoad.read(endpoints)

    var convergence: [Double] = []
    for change in 2...(changes + 1) {
        _ = try await driver.put(EtcdPutRequest(key: targetKey, value: Data(String(change).utf8)))
        let committed = ContinuousClock.now
        let done = try await withTimeout(seconds: 60, "put \(change)") { await acknowledgements.allReached(Int64(change)) }
        convergence.append(max(0, milliseconds(done - committed)))
    }
    let loadAfter = try EtcdLoad.read(endpoints)
    reportConvergence("raw etcd: put returned → all \(agents) watchers' puts seen", convergence)
    for line in loadAfter.describe(since: loadBefore, per: changes, agents: agents) { print(line) }
    _ = try await driver.deleteRange(EtcdDeleteRangeRequest(key: Data(prefix.utf8), rangeEnd: EtcdKeyRange.end(ofPrefix: Data(prefix.utf8))))
}
