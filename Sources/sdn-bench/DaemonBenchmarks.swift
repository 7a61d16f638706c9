import Foundation
import Glibc
import SDNConfig
import SDNModel
import SDNNFTablesNetlink
import SDNNetns
import SDNRouteNetlink
import Synchronization

// The daemon's benchmarks (issue 10): they drive a running release `sdnd` from outside, through its API
// and the kernel of its namespace. `scripts/bench-daemon.sh` starts the daemon and runs them in order.

// MARK: - gen-config

/// `gen-config --guests=N --out DIR [--first-guest 101] [--ipset-size N]`: the synthetic cluster of the
/// compile benchmark (N guests × 2 NICs × 20 rules, 100 groups, 2 IP sets) as the documents `sdn push`
/// sends (DIR/Topologies/sdn.yaml, DIR/Policies/sdn.yaml), guests numbered from `--first-guest`.
func generateConfig() throws {
    guard let directory = stringOption("out") else { throw BenchFailure("gen-config: give --out DIR") }
    var cluster = SyntheticCluster(guests: guestCounts([1_000]).first ?? 1_000)
    cluster.firstGuestID = integerOption("first-guest", 101)
    cluster.ipSetSize = integerOption("ipset-size", cluster.ipSetSize)
    let state = cluster.state()
    guard state.validate().validated != nil else { throw BenchFailure("gen-config: the synthetic state does not validate") }
    for (folder, text) in [("Topologies", try ConfigRenderer.topology(state).yaml()),
                           ("Policies", try ConfigRenderer.policy(state, style: .asWritten).yaml())] {
        try FileManager.default.createDirectory(atPath: directory + "/" + folder, withIntermediateDirectories: true)
        try text.write(toFile: directory + "/" + folder + "/sdn.yaml", atomically: true, encoding: .utf8)
    }
    print("gen-config: \(cluster.guests) guests (VMIDs \(cluster.firstGuestID)…\(cluster.firstGuestID + cluster.guests - 1)) × \(cluster.nicsPerGuest) NICs × \(cluster.rulesPerGuest) rules, node 'bench', written to \(directory)")
}

// MARK: - api-latency

/// Latencies in microseconds.
func reportLatencies(_ label: String, _ micros: [Double]) {
    guard !micros.isEmpty else { print("\(label): no samples"); return }
    let sorted = micros.sorted()
    func at(_ quantile: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))] / 1000 }
    print(String(format: "%@: n=%d  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", label, sorted.count,
                 at(0.5), at(0.9), at(0.99), at(0.999), sorted.last! / 1000))
}

/// What one connection's thread measured.
private final class ConnectionLoad: @unchecked Sendable {
    var latencies: [Double] = []
    var errors = 0
    var nonSuccess = 0
    var connects = 0
    /// Requests still unsent at the hard stop (the server fell too far behind): counted as infinitely late.
    var unsent = 0
    var lastCompletion: UInt64 = 0
    var firstError: String?
}

/// `api-latency --socket PATH|--url http://127.0.0.1:PORT [--token T] --rate 1000 --seconds 10 --path /v1/status
/// [--connections 8] [--warmup 1] [--per-request]`: an open-loop load of GET requests at a constant rate.
///
/// Request i is scheduled at start + i/rate and goes to connection i mod N; each connection's thread waits
/// for the scheduled time, sends, and reads the whole response. Latency runs from the scheduled time, not
/// the send: when the server stalls, the requests that should have gone out meanwhile count the stall
/// (no coordinated omission). Keep-alive connections are reused; `--per-request` opens one per request.
func benchAPILatency() throws {
    let endpoint = try HTTPEndpoint.fromCommandLine()
    let token = stringOption("token")
    let path = stringOption("path") ?? "/v1/status"
    let rate = doubleOption("rate", 1_000)
    let seconds = doubleOption("seconds", 10)
    let warmup = doubleOption("warmup", 1)
    let connections = integerOption("connections", 8)
    let perRequest = CommandLine.arguments.contains("--per-request")

    // Keep-alive: two requests on one connection, and what the first response says.
    let probe = try HTTPConnection(endpoint)
    let first = try probe.exchange("GET", path, token: token)
    guard (200..<300).contains(first.status) else { throw BenchFailure("GET \(path) answered \(first.status): \(first.text.prefix(300))") }
    let reused = first.keepAlive && ((try? probe.exchange("GET", path, token: token))?.status).map { (200..<300).contains($0) } == true
    print("api-latency: GET \(path) on \(endpoint), \(first.body.count) bytes, keep-alive: \(reused ? "yes (connections reused)" : "no")\(perRequest ? ", --per-request: a new connection per request" : "")")
    let keepAlive = reused && !perRequest

    let interval = 1e9 / rate
    let warmupCount = Int(warmup * rate)
    let total = warmupCount + Int(seconds * rate)
    let start = monotonicNanoseconds() + 50_000_000
    let measuredStart = start + UInt64(Double(warmupCount) * interval)
    // A server that cannot keep up would make an open-loop run last for ever: stop 5 s after the schedule.
    let hardStop = start + UInt64((warmup + seconds + 5) * 1e9)
    let loads = (0..<connections).map { _ in ConnectionLoad() }
    let finished = DispatchGroup()
    for index in 0..<connections {
        let load = loads[index]
        finished.enter()
        let thread = Thread {
            defer { finished.leave() }
            var connection: HTTPConnection?
            let request = HTTPConnection.request("GET", path, token: token, close: !keepAlive)
            var number = index
            while number < total {
                let scheduled = start + UInt64(Double(number) * interval)
                if monotonicNanoseconds() > hardStop {
                    load.unsent += (total - number + connections - 1) / connections
                    break
                }
                sleepUntil(scheduled)
                do {
                    if connection == nil {
                        connection = try HTTPConnection(endpoint)
                        load.connects += 1
                    }
                    try connection!.send(request)
                    let response = try connection!.readResponse()
                    let done = monotonicNanoseconds()
                    if !response.keepAlive || !keepAlive { connection = nil }
                    if scheduled >= measuredStart {
                        load.latencies.append(Double(done - scheduled) / 1000)
                        load.lastCompletion = max(load.lastCompletion, done)
                        if !(200..<300).contains(response.status) { load.nonSuccess += 1 }
                    }
                } catch {
                    connection = nil
                    if scheduled >= measuredStart {
                        load.errors += 1
                        if load.firstError == nil { load.firstError = "\(error)" }
                    }
                }
                number += connections
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    finished.wait()
    let unsent = loads.reduce(0) { $0 + $1.unsent }
    let latencies = loads.flatMap(\.latencies)
    let errors = loads.reduce(0) { $0 + $1.errors }
    let nonSuccess = loads.reduce(0) { $0 + $1.nonSuccess }
    let elapsed = Double(max(loads.map(\.lastCompletion).max() ?? 0, measuredStart) - measuredStart) / 1e9
    reportLatencies("  GET \(path) @ \(Int(rate))/s × \(Int(seconds)) s, \(connections) connections", latencies + Array(repeating: .infinity, count: unsent))
    if unsent > 0 { print("  \(unsent) requests were still unsent 5 s after the schedule ended (counted as infinitely late above): the server cannot sustain this rate") }
    print(String(format: "  achieved %.1f responses/s (target %.0f), errors %d (socket) + %d (non-2xx), connections opened %d",
                 Double(latencies.count) / max(elapsed, 1e-9), rate, errors, nonSuccess, loads.reduce(0) { $0 + $1.connects }))
    if let firstError = loads.compactMap(\.firstError).first { print("  first error: \(firstError)") }
}

// MARK: - rule-change

/// Generations from `newGeneration` notifications, with their arrival times, for waiting on a commit.
private final class GenerationLog: Sendable {
    private let entries = Mutex<[(time: UInt64, generation: UInt32)]>([])

    func record(_ generation: UInt32) {
        let now = monotonicNanoseconds()
        entries.withLock { $0.append((now, generation)) }
    }

    func after(_ time: UInt64) -> [(time: UInt64, generation: UInt32)] { entries.withLock { $0.filter { $0.time >= time } } }
}

/// `rule-change --socket PATH --netns NS [--policy guest:101] [--rule-id bench] [--iterations=N]`: one
/// rule changed through the API and applied, N times. Each iteration PUTs the rule with a new port (the
/// first one POSTs it) and POSTs /v1/apply, which answers after the nftables commit; the commit is
/// confirmed in the kernel by the `newGeneration` notification of a RulesetChangeMonitor in the node's
/// namespace. Times run from the edit's send.
func benchRuleChange() async throws {
    let endpoint = try HTTPEndpoint.fromCommandLine()
    let token = stringOption("token")
    guard let netns = stringOption("netns") else { throw BenchFailure("rule-change: give --netns NAME (the namespace sdnd acts on)") }
    let policy = stringOption("policy") ?? "guest:101"
    let ruleID = stringOption("rule-id") ?? "bench"
    let count = iterations(50)
    let namespace = try NetworkNamespace.named(netns)
    let monitor = try RulesetChangeMonitor(namespace: namespace)
    let log = GenerationLog()
    let consumer = Task {
        for await change in monitor.events() where change.kind == .newGeneration {
            if let generation = change.generation { log.record(generation) }
        }
    }
    defer {
        monitor.stop()
        consumer.cancel()
    }

    let connection = try HTTPConnection(endpoint)
    let rulesPath = "/v1/policies/\(policy)/rules"
    let existing = try connection.exchange("GET", rulesPath, token: token)
    guard existing.status == 200 else { throw BenchFailure("GET \(rulesPath): \(existing.status) \(existing.text.prefix(300))") }
    var exists = existing.text.contains("\"\(ruleID)\"")

    var editSamples: [Double] = [], applySamples: [Double] = [], kernelSamples: [Double] = [], daemonApply: [Double] = []
    var messages: [Int] = []
    var lastPort = 0
    for iteration in 0...count {
        let port = 20_000 + iteration
        let body = "{\"rule\":\"in accept tcp dport \(port)\"\(exists ? "" : ",\"id\":\"\(ruleID)\"")}"
        let start = monotonicNanoseconds()
        let edit = try exists ? connection.exchange("PUT", "\(rulesPath)/\(ruleID)", token: token, body: body)
                              : connection.exchange("POST", rulesPath, token: token, body: body)
        guard edit.status == 200 || edit.status == 201 else { throw BenchFailure("rule edit answered \(edit.status): \(edit.text.prefix(500))") }
        exists = true
        let edited = monotonicNanoseconds()
        let apply = try connection.exchange("POST", "/v1/apply", token: token, body: "{}")
        let applied = monotonicNanoseconds()
        guard apply.status == 200 else { throw BenchFailure("POST /v1/apply answered \(apply.status): \(apply.text.prefix(500))") }
        let result = try JSONSerialization.jsonObject(with: Data(apply.body)) as? [String: Any]
        guard result?["converged"] as? Bool == true else { throw BenchFailure("apply did not converge: \(apply.text.prefix(500))") }
        // The commit's notification: normally already here when the response arrives.
        let deadline = ContinuousClock.now + .seconds(10)
        var commits = log.after(edited)
        while commits.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .microseconds(200))
            commits = log.after(edited)
        }
        guard let commit = commits.first else { throw BenchFailure("no NEWGEN in \(netns) within 10 s of apply #\(iteration)") }
        lastPort = port
        // The first iteration may add the rule (a POST); it is not counted.
        guard iteration > 0 else { continue }
        editSamples.append(Double(edited - start) / 1e6)
        applySamples.append(Double(applied - start) / 1e6)
        kernelSamples.append(Double(commit.time - start) / 1e6)
        if let milliseconds = result?["milliseconds"] as? Double { daemonApply.append(milliseconds) }
        if let count = result?["firewallMessages"] as? Int { messages.append(count) }
    }
    print("rule-change: \(policy) rule '\(ruleID)' PUT with a new port, then POST /v1/apply, \(count) times on \(endpoint) (netns \(netns))")
    report("  edit (PUT rule → 200: a new revision)", editSamples)
    report("  edit + apply (POST /v1/apply → 200, after the commit)", applySamples)
    report("  edit → NEWGEN seen in the namespace", kernelSamples)
    if !daemonApply.isEmpty { report("  the daemon's own apply time (result.milliseconds)", daemonApply) }
    if let first = messages.first { print("  firewall messages per apply: \(first)\(Set(messages).count > 1 ? " (varies: \(messages.min()!)…\(messages.max()!))" : "")") }
    // The last port is in the kernel's ruleset.
    if let listing = try capture(["ip", "netns", "exec", netns, "nft", "list", "table", "inet", "sdn"]) {
        print("  kernel holds 'dport \(lastPort)': \(listing.contains("dport \(lastPort)") ? "yes" : "NO")")
    }
}

// MARK: - tap-attach

/// Creates a tap as a hypervisor does: TUNSETIFF on /dev/net/tun inside the namespace, IFF_TAP|IFF_NO_PI,
/// the descriptor kept open (closing it deletes the tap). The tap is left down.
private func createTap(_ name: String, in namespace: NetworkNamespace) throws -> Int32 {
    try namespace.run { () throws -> Int32 in
        let descriptor = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw BenchFailure("open /dev/net/tun: \(String(cString: strerror(errno)))") }
        var request = ifreq()
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in for (index, byte) in bytes.enumerated() { raw[index] = byte } }
        request.ifr_ifru.ifru_flags = Int16(IFF_TAP | IFF_NO_PI)
        let tunsetiff: UInt = 0x4004_54ca  // _IOW('T', 202, int)
        let result = withUnsafeMutablePointer(to: &request) { ioctl(descriptor, tunsetiff, $0) }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw BenchFailure("TUNSETIFF \(name): \(reason)")
        }
        return descriptor
    }
}

private let IFF_TAP: Int32 = 0x0002
private let IFF_NO_PI: Int32 = 0x1000

/// Link events of one interface, with their arrival times.
private final class LinkEventLog: Sendable {
    private let entries = Mutex<[(time: UInt64, event: LinkEventMonitor.Event)]>([])

    func record(_ event: LinkEventMonitor.Event) {
        let now = monotonicNanoseconds()
        entries.withLock { $0.append((now, event)) }
    }

    func first(after time: UInt64, where matches: (LinkEventMonitor.Event) -> Bool) -> UInt64? {
        entries.withLock { $0.first { $0.time >= time && matches($0.event) }?.time }
    }
}

/// `tap-attach --netns NS [--tap tap101i0] [--iterations=50]`: a tap appearing → in its bridge and up.
/// With sdnd running on a configuration whose guest has that NIC, each iteration creates the tap (down,
/// no master), waits for the link notification that shows it with a master and up, then deletes it and
/// waits for its removal (so every iteration is a fresh appearance).
func benchTapAttach() async throws {
    guard let netns = stringOption("netns") else { throw BenchFailure("tap-attach: give --netns NAME (the namespace sdnd acts on)") }
    let tap = stringOption("tap") ?? "tap101i0"
    let count = iterations(50)
    let namespace = try NetworkNamespace.named(netns)
    let monitor = try LinkEventMonitor(namespace: namespace)
    let log = LinkEventLog()
    let consumer = Task {
        for await event in monitor.events() where event.name == tap || event.kind == .overrun { log.record(event) }
    }
    defer {
        monitor.stop()
        consumer.cancel()
    }
    var samples: [Double] = []
    var upFirst = 0
    for iteration in 0..<count {
        let start = monotonicNanoseconds()
        let descriptor = try createTap(tap, in: namespace)
        let deadline = ContinuousClock.now + .seconds(60)
        var attached: UInt64?
        while attached == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .microseconds(200))
            attached = log.first(after: start) { $0.kind == .changed && $0.masterIndex != nil && $0.isUp == true }
        }
        let created = monotonicNanoseconds()
        close(descriptor)
        guard let attached else { throw BenchFailure("tap-attach #\(iteration): \(tap) not in a bridge and up within 60 s") }
        if log.first(after: start, where: { $0.kind == .changed && $0.isUp == true && $0.masterIndex == nil }) != nil { upFirst += 1 }
        samples.append(Double(attached - start) / 1e6)
        // Gone before the next one appears; then a pause so the daemon has handled the removal.
        var removed: UInt64?
        while removed == nil && ContinuousClock.now < deadline + .seconds(10) {
            try await Task.sleep(for: .milliseconds(1))
            removed = log.first(after: created) { $0.kind == .removed }
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    print("tap-attach: \(tap) created with TUNSETIFF (down, no master) in \(netns), \(count) times; until the link is in a bridge and up")
    report("  tap created → RTM_NEWLINK with master and IFF_UP", samples)
    if upFirst > 0 { print("  (\(upFirst) of \(count) times the tap was up before it had its master)") }
}
