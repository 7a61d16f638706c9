import Foundation
import SDNDataplane
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNFTablesNetlink
import SDNNetns

/// Guest counts for a benchmark: `--guests=N[,M]` on the command line, else `defaults`.
func guestCounts(_ defaults: [Int]) -> [Int] {
    for argument in CommandLine.arguments where argument.hasPrefix("--guests=") {
        return argument.dropFirst("--guests=".count).split(separator: ",").compactMap { Int($0) }
    }
    return defaults
}

func iterations(_ fallback: Int) -> Int {
    for argument in CommandLine.arguments where argument.hasPrefix("--iterations=") {
        if let value = Int(argument.dropFirst("--iterations=".count)) { return value }
    }
    return fallback
}

// MARK: - cold-apply

/// A first load of the compiled cluster: netlink (one batch, and chunked) vs `nft -f` of the rendered text.
func benchColdApply() async throws {
    let repeats = iterations(3)
    for guests in guestCounts([1_000, 10_000]) {
        let cluster = CompiledCluster(SyntheticCluster(guests: guests))
        print("cold-apply: \(guests) guests, \(cluster.ruleCount) rules, \(cluster.elementCount) set elements")
        let (changes, diffSamples) = measure("diff", repeat: repeats) { RulesetDiff.changes(from: Ruleset(), to: cluster.compiled.ruleset) }
        report("  diff empty → compiled (\(changes.count) changes)", diffSamples)

        var single: [Double] = []
        var singleMessages = 0
        for _ in 0..<repeats {
            do {
                try await withBenchNamespace { namespace in
                    let firewall = try NetlinkFirewall(namespace: namespace)
                    let (result, elapsed) = try await timedAsync {
                        try await firewall.apply(RulesetDiff.changes(from: Ruleset(), to: cluster.compiled.ruleset), expectedGeneration: nil)
                    }
                    single.append(elapsed)
                    singleMessages = result.messageCount
                }
            } catch {
                print("  netlink apply (one batch) failed: \(error)")
                break
            }
        }
        if !single.isEmpty { report("  netlink diff+apply, one batch (\(singleMessages) msgs)", single) }

        var chunked: [Double] = []
        var chunkedMessages = 0
        for _ in 0..<repeats {
            try await withBenchNamespace { namespace in
                let firewall = try NetlinkFirewall(namespace: namespace)
                let (result, elapsed) = try await timedAsync { try await coldLoad(cluster.compiled.ruleset, into: firewall) }
                chunked.append(elapsed)
                chunkedMessages = result.messageCount
            }
        }
        report("  netlink diff+applyChunked (\(chunkedMessages) msgs)", chunked)

        let (text, renderElapsed) = timed { NFTTextRenderer.render(cluster.compiled.ruleset, replacing: true) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdnbench-\(getpid())-\(guests).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        report("  render nft text (\(text.utf8.count / 1024) KiB, not in nft figure)", [renderElapsed])
        var nft: [Double] = []
        for _ in 0..<repeats {
            try await withBenchNamespace { namespace in
                let (status, elapsed) = try timed { try run(["ip", "netns", "exec", namespace.name!, "nft", "-f", file.path]) }
                if status == 0 { nft.append(elapsed) }
            }
        }
        guard !nft.isEmpty else { print("  nft -f failed"); continue }
        report("  ip netns exec NS nft -f FILE", nft)
        let median = { (samples: [Double]) in samples.sorted()[samples.count / 2] }
        if !single.isEmpty {
            print(String(format: "  ratio netlink one batch / nft -f (p50): %.2f×", median(single) / median(nft)))
        }
        print(String(format: "  ratio netlink chunked / nft -f (p50):   %.2f×", median(chunked) / median(nft)))
    }
}

// MARK: - guest-change

/// One guest's policy changes: validate + compile + diff + apply, with the cluster loaded.
func benchGuestChange() async throws {
    let count = iterations(60)
    var medians: [Int: Double] = [:]
    var p99s: [Int: Double] = [:]
    for guests in guestCounts([100, 10_000]) {
        let loaded = CompiledCluster(SyntheticCluster(guests: guests))
        print("guest-change: \(guests) guests loaded (\(loaded.ruleCount) rules), \(count) changes of guest #\(guests / 2)")
        try await withBenchNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            _ = try await coldLoad(loaded.compiled.ruleset, into: firewall)
            var state = loaded.state
            var previous = loaded.compiled.ruleset
            let target = guests / 2
            guard let policyIndex = state.firewall.guests.firstIndex(where: { $0.scope == .guest(1000 + target) }) else {
                print("  no policy for guest \(1000 + target)"); return
            }
            var validateSamples: [Double] = [], compileSamples: [Double] = [], diffSamples: [Double] = []
            var applySamples: [Double] = [], totalSamples: [Double] = []
            var messages: [Int] = [], changeCounts: [Int] = []
            for iteration in 0..<count {
                state.firewall.guests[policyIndex].rules = loaded.cluster.guestRules(index: target, variant: iteration % 2 == 0 ? 1 : 0)
                let start = ContinuousClock.now
                let (outcome, validateElapsed) = timed { state.validate() }
                guard let validated = outcome.validated else { print("  does not validate"); return }
                let (compiled, compileElapsed) = timed { FirewallCompiler.compile(validated, node: "bench", features: .minimal) }
                let (changes, diffElapsed) = timed { RulesetDiff.changes(from: previous, to: compiled.ruleset) }
                let (result, applyElapsed) = try await timedAsync { try await firewall.apply(changes, expectedGeneration: nil) }
                totalSamples.append(milliseconds(ContinuousClock.now - start))
                validateSamples.append(validateElapsed); compileSamples.append(compileElapsed)
                diffSamples.append(diffElapsed); applySamples.append(applyElapsed)
                messages.append(result.messageCount); changeCounts.append(changes.count)
                previous = compiled.ruleset
            }
            report("  validate", validateSamples)
            report("  compile (full recompile)", compileSamples)
            report("  diff previous → new", diffSamples)
            report("  netlink apply", applySamples)
            report("  end to end (validate+compile+diff+apply)", totalSamples)
            print("  per change: \(Set(changeCounts).sorted()) changes, \(Set(messages).sorted()) netlink messages")
            let sorted = totalSamples.sorted()
            medians[guests] = sorted[sorted.count / 2]
            p99s[guests] = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        }
    }
    if let small = medians[100], let large = medians[10_000] {
        print(String(format: "guest-change ratio 10k/100: p50 %.1f×, p99 %.1f×", large / small, p99s[10_000]! / p99s[100]!))
    }
}

// MARK: - ipset

/// One IP-set element added and deleted (diff + apply, and end to end), and a 50,000-element set replaced.
func benchIPSet() async throws {
    let count = iterations(50)
    let guests = guestCounts([100]).first ?? 100
    var base = SyntheticCluster(guests: guests)
    base.ipSetStride = 8
    let loaded = CompiledCluster(base)
    print("ipset: \(guests) guests, \(loaded.elementCount) set elements, sets of \(loaded.cluster.ipSetSize) entries, one element added/deleted \(count) times")
    try await withBenchNamespace { namespace in
        let firewall = try NetlinkFirewall(namespace: namespace)
        _ = try await coldLoad(loaded.compiled.ruleset, into: firewall)
        let base = loaded.state
        var with = loaded.state
        with.firewall.ipsets[0].entries.append(IPSet.Entry(value: .prefix(try IPPrefix("198.18.0.1/32"))))
        let (withCompiled, _) = timed { CompiledCluster.compile(with) }
        var previous = loaded.compiled.ruleset
        var diffApply: [Double] = [], endToEnd: [Double] = [], messages: Set<Int> = []
        var diffOnly: [Double] = [], applyOnly: [Double] = []
        for iteration in 0..<count {
            let state = iteration % 2 == 0 ? with : base
            // End to end from the model: validate + compile + diff + apply.
            let start = ContinuousClock.now
            let compiled = CompiledCluster.compile(state)
            let diffStart = ContinuousClock.now
            let changes = RulesetDiff.changes(from: previous, to: compiled.ruleset)
            let applyStart = ContinuousClock.now
            let result = try await firewall.apply(changes, expectedGeneration: nil)
            let end = ContinuousClock.now
            endToEnd.append(milliseconds(end - start))
            diffApply.append(milliseconds(end - diffStart))
            diffOnly.append(milliseconds(applyStart - diffStart)); applyOnly.append(milliseconds(end - applyStart))
            messages.insert(result.messageCount)
            previous = compiled.ruleset
        }
        _ = withCompiled
        report("  one element add/delete: diff", diffOnly)
        report("  one element add/delete: apply", applyOnly)
        report("  one element add/delete: diff + apply", diffApply)
        report("  one element add/delete: validate+compile+diff+apply", endToEnd)
        print("  netlink messages per change: \(messages.sorted())")
    }

    // Replacing a 50,000-element set with 50,000 different elements.
    let replaceCount = max(count / 10, 3)
    var small = SyntheticCluster(guests: guests)
    small.ipSetStride = 8
    small.ipSets = 1
    small.ipSetSize = 50_000
    var other = small
    other.ipSetOffset = 0x0100_0000
    let first = CompiledCluster(small), second = CompiledCluster(other)
    print("ipset: replacing a \(first.elementCount)-element ruleset's 50,000-element set with 50,000 different elements, \(replaceCount) times")
    try await withBenchNamespace { namespace in
        let firewall = try NetlinkFirewall(namespace: namespace)
        _ = try await coldLoad(first.compiled.ruleset, into: firewall)
        var current = first.compiled.ruleset
        var diffSamples: [Double] = [], applySamples: [Double] = [], messages: Set<Int> = []
        for iteration in 0..<replaceCount {
            let desired = iteration % 2 == 0 ? second.compiled.ruleset : first.compiled.ruleset
            let (changes, diffElapsed) = timed { RulesetDiff.changes(from: current, to: desired) }
            let (result, applyElapsed) = try await timedAsync { try await firewall.apply(changes, expectedGeneration: nil) }
            diffSamples.append(diffElapsed); applySamples.append(applyElapsed)
            messages.insert(result.messageCount)
            current = desired
        }
        report("  50k set replace: diff", diffSamples)
        report("  50k set replace: apply", applySamples)
        report("  50k set replace: diff + apply", zip(diffSamples, applySamples).map { $0 + $1 })
        print("  netlink messages per replace: \(messages.sorted())")
    }
}

// MARK: - per-packet

/// iperf3 between two guests bridged in a node namespace (br_netfilter on), with the ruleset for the
/// 5 guests (#0–#4) loaded vs the ruleset for 10,000 guests; both contain the two test guests (#0 and #4,
/// vm1000 and vm1004 on vnet0), so their traffic passes the spoof, dispatch and guest chains.
func benchPerPacket() async throws {
    let seconds = iterations(3)
    let large = guestCounts([10_000]).first ?? 10_000
    let small = CompiledCluster(SyntheticCluster(guests: 5))
    let big = CompiledCluster(SyntheticCluster(guests: large))
    try await withBenchNamespace { node in
        try await withBenchNamespace { guestA in
            try await withBenchNamespace { guestB in
                let n = node.name!
                var commands: [[String]] = [
                    ["ip", "-n", n, "link", "add", "vnet0", "type", "bridge"],
                    ["ip", "-n", n, "link", "set", "vnet0", "up"],
                    ["ip", "netns", "exec", n, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"],
                ]
                for (namespace, port, mac, address) in [(guestA, "tap1000i0", "52:54:00:00:00:00", "10.0.0.2/16"),
                                                         (guestB, "tap1004i0", "52:54:00:00:00:20", "10.0.0.4/16")] {
                    let g = namespace.name!
                    commands += [
                        ["ip", "-n", n, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", g],
                        ["ip", "-n", n, "link", "set", port, "master", "vnet0", "up"],
                        ["ip", "-n", g, "link", "set", "eth0", "address", mac],
                        ["ip", "-n", g, "addr", "add", address, "dev", "eth0"],
                        ["ip", "-n", g, "link", "set", "eth0", "up"],
                        ["ip", "-n", g, "link", "set", "lo", "up"],
                    ]
                }
                for command in commands where try run(command) != 0 { return }

                let firewall = try NetlinkFirewall(namespace: node)
                _ = try await coldLoad(small.compiled.ruleset, into: firewall)
                var current = small.compiled.ruleset

                let server = Process()
                server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                server.arguments = ["ip", "netns", "exec", guestB.name!, "iperf3", "-s", "-p", "10020"]
                server.standardOutput = FileHandle.nullDevice
                try server.run()
                defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }  // Process starts children with SIGTERM blocked
                try await Task.sleep(for: .milliseconds(500))

                var throughput: [Bool: [Double]] = [false: [], true: []]
                let rounds = max(1, Int(CommandLine.arguments.first { $0.hasPrefix("--rounds=") }.map { $0.dropFirst("--rounds=".count) } ?? "") ?? 2)
                print("per-packet: iperf3 TCP vm1000 → vm1004 through bridge vnet0 (br_netfilter), \(seconds) s per run, 5 vs \(large) guests compiled, \(rounds) rounds of small, large, large, small")
                // Small, large, large, small per round: the large ruleset is loaded once per round.
                for round in 0..<(4 * rounds) {
                    let useBig = round % 4 == 1 || round % 4 == 2
                    let desired = useBig ? big.compiled.ruleset : small.compiled.ruleset
                    if desired != current {
                        _ = try await firewall.applyChunked(RulesetDiff.changes(from: current, to: desired), expectedGeneration: nil)
                        current = desired
                    }
                    guard let json = try capture(["ip", "netns", "exec", guestA.name!, "iperf3", "-c", "10.0.0.4", "-p", "10020", "-t", "\(seconds)", "-J"]),
                          let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                          let end = object["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
                          let bits = received["bits_per_second"] as? Double else {
                        print("  iperf3 failed (traffic blocked?)"); return
                    }
                    throughput[useBig]!.append(bits / 1e9)
                    print(String(format: "  run %d, %5d guests: %.2f Gbit/s", round + 1, useBig ? large : 5, bits / 1e9))
                    if useBig && round % 4 == 2 {
                        // The test flow really crossed the receiving guest's chain: its accept rule counted it.
                        if let listing = try capture(["ip", "netns", "exec", n, "nft", "list", "chain", "inet", "sdn", "guest-1004-net0-in"]),
                           let line = listing.split(separator: "\n").first(where: { $0.contains("dport 10020") }) {
                            print("    guest-1004-net0-in: \(line.trimmingCharacters(in: .whitespaces))")
                        }
                    }
                }
                let median = { (samples: [Double]) in samples.sorted()[samples.count / 2] }
                let smallMedian = median(throughput[false]!), bigMedian = median(throughput[true]!)
                print(String(format: "  median: 5 guests %.2f Gbit/s, %d guests %.2f Gbit/s, ratio %.3f", smallMedian, large, bigMedian, bigMedian / smallMedian))
                let mean = { (samples: [Double]) in samples.reduce(0, +) / Double(samples.count) }
                print(String(format: "  mean:   5 guests %.2f Gbit/s, %d guests %.2f Gbit/s, ratio %.3f", mean(throughput[false]!), large, mean(throughput[true]!), mean(throughput[true]!) / mean(throughput[false]!)))
            }
        }
    }
}

// MARK: - guest-change-incremental

/// One guest's policy changes through the incremental path: `Validated.replacingGuestPolicy` (checks
/// that policy only) + `compileGuests` of that guest + fragment diff + apply (+ patching the kept
/// compiled ruleset, timed separately: bookkeeping for the next full diff, not on the change's path).
func benchGuestChangeIncremental() async throws {
    let count = iterations(60)
    var medians: [Int: Double] = [:], p99s: [Int: Double] = [:]
    for guests in guestCounts([100, 10_000]) {
        let loaded = CompiledCluster(SyntheticCluster(guests: guests))
        let target = guests / 2, id = 1000 + target
        print("guest-change-incremental: \(guests) guests loaded (\(loaded.ruleCount) rules), \(count) changes of vm\(id)")
        try await withBenchNamespace { namespace in
            let firewall = try NetlinkFirewall(namespace: namespace)
            let (_, loadElapsed) = try await timedAsync { try await coldLoad(loaded.compiled.ruleset, into: firewall) }
            print(String(format: "  first load (chunked, not timed below): %.0f ms", loadElapsed))
            var ruleset = loaded.compiled.ruleset
            guard var validated = loaded.state.validate().validated,
                  var policy = validated.value.firewall.guests.first(where: { $0.scope == .guest(id) }) else { return }
            var previous = FirewallCompiler.compileGuests([id], of: validated, node: "bench", features: .minimal)
            var validateSamples: [Double] = [], compileSamples: [Double] = [], diffSamples: [Double] = []
            var applySamples: [Double] = [], patchSamples: [Double] = [], totalSamples: [Double] = []
            var messages: Set<Int> = [], changeCounts: Set<Int> = []
            for iteration in 0..<count {
                policy.rules = loaded.cluster.guestRules(index: target, variant: iteration % 2 == 0 ? 1 : 0)
                let start = ContinuousClock.now
                let (outcome, validateElapsed) = timed { validated.replacingGuestPolicy(policy) }
                guard let next = outcome.validated else { print("  does not validate"); return }
                let (fragment, compileElapsed) = timed { FirewallCompiler.compileGuests([id], of: next, node: "bench", features: .minimal) }
                let (changes, diffElapsed) = timed { () -> [FirewallChange] in
                    guard fragment.dependenciesSatisfied(by: ruleset, replacing: previous) else { return [] }
                    return FirewallCompiler.changes(from: previous, to: fragment)
                }
                guard !changes.isEmpty else { print("  the fragment needs objects the ruleset lacks"); return }
                let (result, applyElapsed) = try await timedAsync { try await firewall.apply(changes, expectedGeneration: nil) }
                totalSamples.append(milliseconds(ContinuousClock.now - start))
                let (_, patchElapsed) = timed { fragment.patch(&ruleset, replacing: previous) }
                validateSamples.append(validateElapsed); compileSamples.append(compileElapsed); diffSamples.append(diffElapsed)
                applySamples.append(applyElapsed); patchSamples.append(patchElapsed)
                messages.insert(result.messageCount); changeCounts.insert(changes.count)
                previous = fragment
                validated = next
            }
            report("  validate (replacingGuestPolicy)", validateSamples)
            report("  compileGuests (one guest)", compileSamples)
            report("  fragment diff", diffSamples)
            report("  netlink apply", applySamples)
            report("  end to end (validate+compileGuests+diff+apply)", totalSamples)
            report("  patch kept ruleset (not in end to end)", patchSamples)
            print("  per change: \(changeCounts.sorted()) changes, \(messages.sorted()) netlink messages")
            let sorted = totalSamples.sorted()
            medians[guests] = sorted[sorted.count / 2]
            p99s[guests] = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
            // The kept ruleset must still be what the kernel holds (the patch is exact).
            if count > 0 {
                let observed = try await firewall.observe(tables: [(.inet, "sdn"), (.bridge, "sdn")])
                let same = observed.ruleset == ruleset.canonical()
                print("  kernel ruleset equals the patched compiled ruleset: \(same ? "yes" : "NO")")
            }
        }
    }
    let sizes = medians.keys.sorted()
    if sizes.count >= 2, let small = sizes.first, let large = sizes.last {
        print(String(format: "guest-change-incremental ratio %d/%d: p50 %.2f×, p99 %.2f×", large, small, medians[large]! / medians[small]!, p99s[large]! / p99s[small]!))
    }
}
