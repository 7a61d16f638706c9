import Foundation
import Glibc
import SDNConfig
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns
import SDNTesting
import Testing

/// Policy changes are atomic for the packets going through them: while two policies that agree on two
/// flows (client → web udp/5353 allowed, udp/5354 forbidden) but differ everywhere else replace each
/// other a thousand times through ``NetlinkFirewall``, a steady UDP stream on both flows loses nothing
/// on the allowed port and leaks nothing on the forbidden one.
@Suite(.serialized, .systemTest(tools: ["ip", "sysctl", "python3"]))
struct AtomicityTests {
    static let client = 102
    static let web = 101
    static let webAddress = "10.1.0.11"
    static let allowedPort: UInt16 = 5353
    static let forbiddenPort: UInt16 = 5354
    static let applies = 1_000
    /// Datagrams per second and port: low enough that nothing but the firewall can lose any.
    static let ratePerPort = 2_000

    /// The traffic lab's topology with the policy file `Fixtures/atomicity/<policy>`.
    static func policy(_ file: String) throws -> Validated<DesiredState> {
        let topology = fixturesDirectory("traffic") + "/Topologies/lab.yaml"
        let policy = fixturesDirectory("atomicity") + "/" + file
        let documents = [
            ConfigDocument(path: "Topologies/lab.yaml", text: try String(contentsOfFile: topology, encoding: .utf8), kind: ConfigDocument.kind(impliedBy: "Topologies/lab.yaml")),
            ConfigDocument(path: "Policies/lab.yaml", text: try String(contentsOfFile: policy, encoding: .utf8), kind: ConfigDocument.kind(impliedBy: "Policies/lab.yaml")),
        ]
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        guard let validated else { throw LabError("policy \(file) does not validate: \(diagnostics.map(\.description))") }
        return validated
    }

    /// Sends numbered datagrams to every port at a fixed rate until the stop file appears (or the
    /// deadline passes), then prints how many went out per port as JSON.
    static let senderScript = #"""
    import json, os, socket, sys, time
    address, ports, rate, stop, deadline = sys.argv[1], [int(p) for p in sys.argv[2].split(",")], float(sys.argv[3]), sys.argv[4], time.monotonic() + float(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = {p: 0 for p in ports}
    errors = {p: 0 for p in ports}
    interval = 1.0 / rate
    tick = time.monotonic()
    while not os.path.exists(stop) and time.monotonic() < deadline:
        for p in ports:
            try:
                s.sendto(b"%d %d" % (p, sent[p]), (address, p))
                sent[p] += 1
            except OSError:
                errors[p] += 1
        tick += interval
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(json.dumps({"sent": {str(p): sent[p] for p in ports}, "errors": {str(p): errors[p] for p in ports}}), flush=True)
    """#

    /// Counts distinct numbered datagrams per port until the stop file appears and nothing has arrived
    /// for half a second (or the deadline passes), then prints counts, duplicates and the highest number.
    static let receiverScript = #"""
    import json, os, select, socket, sys, time
    ports, ready, stop, deadline = [int(p) for p in sys.argv[1].split(",")], sys.argv[2], sys.argv[3], time.monotonic() + float(sys.argv[4])
    sockets = {}
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("0.0.0.0", p))
        sockets[s] = p
    seen = {p: set() for p in ports}
    duplicates = {p: 0 for p in ports}
    open(ready, "w").close()
    last = time.monotonic()
    while time.monotonic() < deadline:
        readable, _, _ = select.select(list(sockets), [], [], 0.05)
        for s in readable:
            while True:
                try:
                    data = s.recv(64, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                port, number = (int(x) for x in data.split())
                if number in seen[port]:
                    duplicates[port] += 1
                seen[port].add(number)
                last = time.monotonic()
        if os.path.exists(stop) and time.monotonic() - last > 0.5:
            break
    print(json.dumps({"received": {str(p): len(seen[p]) for p in ports},
                      "duplicates": {str(p): duplicates[p] for p in ports},
                      "highest": {str(p): max(seen[p]) if seen[p] else -1 for p in ports}}), flush=True)
    """#

    /// A helper run with `ip netns exec` (which execs it, so SIGKILL by pid reaches it), stdout captured.
    final class Helper {
        let process = Process()
        let output = Pipe()

        init(_ arguments: [String], in namespace: NetworkNamespace) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace.name!] + arguments
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// Waits for the helper to finish on its own, then parses its one line of JSON.
        func result(timeout: Duration) async throws -> [String: [String: Int]] {
            let end = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
            guard !process.isRunning else { throw LabError("helper \(process.arguments ?? []) did not finish in \(timeout)") }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Int]] else {
                throw LabError("helper printed \(String(decoding: data, as: UTF8.self))")
            }
            return json
        }

        func kill() {
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// The ruleset with tables, chains and sets in name order: the kernel lists chains in creation
    /// order, so a chain deleted and created again by one apply moves to the end of its table.
    static func ordered(_ ruleset: Ruleset) -> Ruleset {
        var result = ruleset
        result.tables.sort { ($0.family.rawValue, $0.name) < ($1.family.rawValue, $1.name) }
        for index in result.tables.indices {
            result.tables[index].chains.sort { $0.name < $1.name }
            result.tables[index].sets.sort { $0.name < $1.name }
        }
        return result
    }

    /// Where an observed ruleset differs from the expected one (tables matched by family and name).
    static func difference(_ observed: Ruleset, _ expected: Ruleset) -> [String] {
        var result: [String] = []
        let observedNames = observed.tables.map { "\($0.family.rawValue) \($0.name)" }, expectedNames = expected.tables.map { "\($0.family.rawValue) \($0.name)" }
        if observedNames != expectedNames { result.append("tables \(observedNames) != \(expectedNames)") }
        for table in expected.tables {
            guard let other = observed.table(table.family, table.name) else { continue }
            if other.chains.map(\.name) != table.chains.map(\.name) { result.append("\(table.name) chains \(other.chains.map(\.name)) != \(table.chains.map(\.name))") }
            if other.sets.map(\.name) != table.sets.map(\.name) { result.append("\(table.name) sets \(other.sets.map(\.name)) != \(table.sets.map(\.name))") }
            for chain in table.chains where other.chain(chain.name) != nil && other.chain(chain.name) != chain {
                result.append("\(table.name) chain \(chain.name) differs")
            }
            for set in table.sets where other.set(set.name) != nil && other.set(set.name) != set {
                result.append("\(table.name) set \(set.name) differs")
            }
        }
        return result
    }

    @Test func alternatingAppliesNeitherDropAllowedNorLeakForbiddenTraffic() async throws {
        let features = detectedKernelFeatures
        let policyA = try Self.policy("policy-a.yaml")
        let policyB = try Self.policy("policy-b.yaml")
        let lab = try TrafficLab(policyA)
        defer { lab.teardown() }
        if features.guestMode == .brNetfilter {
            for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
                _ = try Shell.run(["ip", "netns", "exec", lab.node.name!, "sysctl", "-qw", "net.bridge.\(key)=1"])
            }
        }

        let compiledA = await FirewallCompiler.compile(policyA, node: "lab", features: features).ruleset
        let compiledB = await FirewallCompiler.compile(policyB, node: "lab", features: features).ruleset
        // The diffs run between what the kernel reports back for each, so element deletions name exactly
        // what is there.
        let rulesetA = compiledA.canonical()
        let rulesetB = compiledB.canonical()
        let tables = Array(Set((rulesetA.tables + rulesetB.tables).map { [$0.family.rawValue, $0.name] })).sorted { $0.lexicographicallyPrecedes($1) }
            .map { (TableFamily(rawValue: $0[0])!, $0[1]) }

        // Both directions really change chains (rules flushed and re-added) and set/map elements.
        let forward = RulesetDiff.changes(from: rulesetA, to: rulesetB)
        let backward = RulesetDiff.changes(from: rulesetB, to: rulesetA)
        for changes in [forward, backward] {
            #expect(changes.contains { if case .flushChain = $0 { true } else { false } })
            #expect(changes.contains { if case .addElements = $0 { true } else { false } })
            #expect(changes.contains { if case .deleteElements = $0 { true } else { false } })
        }
        let flushed = forward.compactMap { if case .flushChain(_, _, let chain) = $0 { chain } else { nil } }
        print("A→B: \(forward.count) changes, chains rebuilt: \(flushed.joined(separator: ", "))")
        print("B→A: \(backward.count) changes")

        // Cold apply of A, from what is observed (nothing).
        let firewall = try NetlinkFirewall(namespace: lab.node)
        let initial = try await firewall.observe(tables: tables)
        #expect(initial.ruleset.tables.isEmpty)
        var generation = try await firewall.apply(RulesetDiff.changes(from: initial.ruleset, to: rulesetA), expectedGeneration: initial.generation).generation
        let loaded = Self.ordered(try await firewall.observe(tables: tables).ruleset)
        let loadedDifference = Self.difference(loaded, Self.ordered(rulesetA))
        #expect(loadedDifference.isEmpty && loaded == Self.ordered(rulesetA), "observed after the cold apply differs from A: \(loadedDifference)")

        // Both flows once, before the stream: the policy does what both A and B say.
        let webAddress = try IPAddress(Self.webAddress)
        #expect(try lab.udpArrives(from: Self.client, to: Self.web, address: webAddress, port: Self.allowedPort))
        #expect(try !lab.udpArrives(from: Self.client, to: Self.web, address: webAddress, port: Self.forbiddenPort))
        #expect(try lab.pings(from: Self.client, to: webAddress))

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-atomicity-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let sender = scratch.appendingPathComponent("send.py").path, receiver = scratch.appendingPathComponent("receive.py").path
        let ready = scratch.appendingPathComponent("ready").path
        let stopSending = scratch.appendingPathComponent("stop-sending").path, stopReceiving = scratch.appendingPathComponent("stop-receiving").path
        try Self.senderScript.write(toFile: sender, atomically: true, encoding: .utf8)
        try Self.receiverScript.write(toFile: receiver, atomically: true, encoding: .utf8)
        let ports = "\(Self.allowedPort),\(Self.forbiddenPort)"

        let receiving = try Helper(["/usr/bin/python3", receiver, ports, ready, stopReceiving, "100"], in: lab.namespace(ofGuest: Self.web))
        defer { receiving.kill() }
        let readyBy = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: ready) && ContinuousClock.now < readyBy { try await Task.sleep(for: .milliseconds(20)) }
        try #require(FileManager.default.fileExists(atPath: ready), "the receiver did not start")
        let sending = try Helper(["/usr/bin/python3", sender, Self.webAddress, ports, "\(Self.ratePerPort)", stopSending, "90"], in: lab.namespace(ofGuest: Self.client))
        defer { sending.kill() }
        try await Task.sleep(for: .milliseconds(300))

        // The applies, alternating, each a diff from what is loaded to the other policy, each bound to the
        // generation the previous one produced.
        var current = rulesetA
        var failures: [String] = []
        var total = Duration.zero
        var slowest = Duration.zero
        let clock = ContinuousClock()
        for index in 0..<Self.applies {
            let next = index % 2 == 0 ? rulesetB : rulesetA
            let changes = RulesetDiff.changes(from: current, to: next)
            let start = clock.now
            do {
                generation = try await firewall.apply(changes, expectedGeneration: generation).generation
                current = next
            } catch {
                failures.append("apply \(index + 1): \(error)")
                let observed = try await firewall.observe(tables: tables)
                (current, generation) = (observed.ruleset, observed.generation)
            }
            let elapsed = clock.now - start
            total += elapsed
            slowest = max(slowest, elapsed)
        }
        try await Task.sleep(for: .milliseconds(300))
        _ = FileManager.default.createFile(atPath: stopSending, contents: nil)
        let sent = try await sending.result(timeout: .seconds(10))
        _ = FileManager.default.createFile(atPath: stopReceiving, contents: nil)
        let received = try await receiving.result(timeout: .seconds(10))

        let allowed = "\(Self.allowedPort)", forbidden = "\(Self.forbiddenPort)"
        let sentAllowed = sent["sent"]?[allowed] ?? -1, sentForbidden = sent["sent"]?[forbidden] ?? -1
        let gotAllowed = received["received"]?[allowed] ?? -1, gotForbidden = received["received"]?[forbidden] ?? -1
        let seconds = { (duration: Duration) in Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
        print("""
            atomicity: \(Self.applies) applies (\(Self.applies - failures.count) succeeded), total \(String(format: "%.3f", seconds(total))) s, \
            mean \(String(format: "%.3f", seconds(total) * 1000 / Double(Self.applies))) ms, slowest \(String(format: "%.3f", seconds(slowest) * 1000)) ms
            atomicity: udp/\(allowed) (allowed): sent \(sentAllowed), received \(gotAllowed), duplicates \(received["duplicates"]?[allowed] ?? -1), send errors \(sent["errors"]?[allowed] ?? -1)
            atomicity: udp/\(forbidden) (forbidden): sent \(sentForbidden), received \(gotForbidden), send errors \(sent["errors"]?[forbidden] ?? -1)
            """)

        #expect(failures.isEmpty, "\(failures.prefix(5))")
        let final = Self.ordered(try await firewall.observe(tables: tables).ruleset)
        let finalDifference = Self.difference(final, Self.ordered(current))
        #expect(finalDifference.isEmpty && final == Self.ordered(current), "observed at the end differs from the last policy applied: \(finalDifference)")
        #expect(current == (Self.applies % 2 == 0 ? rulesetA : rulesetB))
        #expect(sentAllowed > Self.ratePerPort, "the stream must run through the applies")
        #expect(sent["errors"]?[allowed] == 0)
        #expect(gotAllowed == sentAllowed, "\(sentAllowed - gotAllowed) datagrams to the allowed port were lost")
        #expect(received["highest"]?[allowed] == sentAllowed - 1)
        #expect(gotForbidden == 0, "\(gotForbidden) datagrams to the forbidden port got through")
    }
}
