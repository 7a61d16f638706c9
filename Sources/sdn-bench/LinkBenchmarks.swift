import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink

// Link dataplane benchmarks: NetlinkLinks against iproute2's batch mode doing the same kernel writes.

/// `--NAME N` or `--NAME=N` on the command line, else `fallback`.
func integerOption(_ name: String, _ fallback: Int) -> Int {
    let words = CommandLine.arguments
    for (position, word) in words.enumerated() {
        if word.hasPrefix("--\(name)="), let value = Int(word.dropFirst(name.count + 3)) { return value }
        if word == "--\(name)", position + 1 < words.count, let value = Int(words[position + 1]) { return value }
    }
    return fallback
}

private let underlayAddress = "192.0.2.1"
private let peers = ["192.0.2.2", "192.0.2.3", "192.0.2.4"]

/// A namespace with `lo` up and a veth underlay holding the VTEP address (not timed).
private func prepareUnderlay(_ namespace: NetworkNamespace) throws {
    let name = namespace.name!
    for command in [
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "-n", name, "link", "add", "underlay0", "type", "veth", "peer", "name", "underlay1"],
        ["ip", "-n", name, "addr", "add", "\(underlayAddress)/24", "dev", "underlay0"],
        ["ip", "-n", name, "link", "set", "underlay0", "up"],
        ["ip", "-n", name, "link", "set", "underlay1", "up"],
    ] where try run(command) != 0 {
        throw BenchFailure("setup failed: \(command.joined(separator: " "))")
    }
}

/// Waits until the kernel has finished tearing down earlier namespaces: `cleanup_net` unregisters their
/// links under the RTNL lock, asynchronously, and thousands of links hold it for seconds — a timed run
/// that overlaps it measures the teardown, not itself. Settled: three RTNL-locked no-op requests (`lo`
/// up again) in a row answered within 2 ms.
private func settle(_ namespace: NetworkNamespace) async throws {
    let links = try NetlinkLinks(namespace: namespace)
    var quick = 0
    let start = ContinuousClock.now
    while quick < 3 && ContinuousClock.now - start < .seconds(120) {
        try await Task.sleep(for: .milliseconds(100))
        let (_, elapsed) = try await timedAsync { try await links.perform(.setUp(name: "lo", up: true)) }
        quick = elapsed < 2 ? quick + 1 : 0
    }
    let waited = milliseconds(ContinuousClock.now - start)
    if waited > 1_000 { print(String(format: "  (waited %.1f s for the kernel to finish tearing down earlier namespaces)", waited / 1000)) }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The writes for one vnet, as `sdn` would plan them.
private func vnetOperations(_ number: Int) throws -> [LinkOperation] {
    let bridge = "vnet\(number)", vxlan = "vxlan_vnet\(number)"
    let alias = LinkOwnership.alias(owner: "vnet/\(bridge)")
    var operations: [LinkOperation] = [
        .createLink(LinkSpec(name: bridge, kind: .bridge(BridgeLinkSettings()), alias: alias)),
        .createLink(LinkSpec(name: vxlan, kind: .vxlan(VXLANLinkSettings(vni: number, local: try IPAddress(underlayAddress), learning: false)), alias: alias)),
        .setMaster(name: vxlan, master: bridge),
        .setUp(name: vxlan, up: true),
        .setUp(name: bridge, up: true),
    ]
    for peer in peers {
        operations.append(.addFDB(FDBEntrySpec(interface: vxlan, mac: FDBEntrySpec.floodMAC, kind: .vxlanRemote, destination: try IPAddress(peer))))
    }
    return operations
}

/// The same writes as `ip -batch` lines and `bridge -batch` lines (`ip` cannot run `bridge fdb`).
private func vnetBatchLines(_ number: Int) -> (ip: [String], bridge: [String]) {
    let bridge = "vnet\(number)", vxlan = "vxlan_vnet\(number)"
    let alias = "sdn:vnet/\(bridge)"
    let ip = [
        "link add name \(bridge) type bridge",
        "link set dev \(bridge) alias \(alias)",
        "link add name \(vxlan) type vxlan id \(number) local \(underlayAddress) dstport 4789 nolearning",
        "link set dev \(vxlan) alias \(alias)",
        "link set dev \(vxlan) master \(bridge)",
        "link set dev \(vxlan) up",
        "link set dev \(bridge) up",
    ]
    let fdb = peers.map { "fdb append 00:00:00:00:00:00 dev \(vxlan) dst \($0) self permanent" }
    return (ip, fdb)
}

private func writeBatch(_ lines: [String], _ label: String) throws -> URL {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdnbench-\(getpid())-\(label).batch")
    try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    return file
}

private func median(_ samples: [Double]) -> Double { samples.sorted()[samples.count / 2] }

// MARK: - links-cold

/// N vnets from scratch (bridge + VXLAN with alias, enslaved, both up, 3 head-end FDB entries): NetlinkLinks
/// vs `ip -batch` + `bridge -batch` of the same writes, each in a fresh namespace.
func benchLinksCold() async throws {
    let vnets = integerOption("vnets", 1_000)
    let repeats = iterations(3)
    let operations = try (1...vnets).flatMap(vnetOperations)
    let batches = (1...vnets).map(vnetBatchLines)
    print("links-cold: \(vnets) vnets = \(operations.count) LinkOperations (bridge + vxlan with alias, enslave, 2× up, 3 FDB appends each)")

    var ours: [Double] = [], observeSamples: [Double] = [], writes = 0
    for _ in 0..<repeats {
        try await withBenchNamespace { namespace in
            try prepareUnderlay(namespace)
            try await settle(namespace)
            let links = try NetlinkLinks(namespace: namespace)
            let (_, elapsed) = try await timedAsync {
                try await performInRuns(operations, on: links)
            }
            ours.append(elapsed)
            writes = links.writeCount
            let (observed, observeElapsed) = try await timedAsync { try await links.observe() }
            observeSamples.append(observeElapsed)
            guard observed.links.count >= 2 * vnets, observed.fdb.count == 3 * vnets else {
                throw BenchFailure("observed \(observed.links.count) links, \(observed.fdb.count) fdb entries")
            }
        }
    }
    report("  NetlinkLinks.perform (\(writes) netlink writes)", ours)
    report("  NetlinkLinks.observe afterwards (\(2 * vnets + 3) links, \(3 * vnets) fdb)", observeSamples)

    let ipFile = try writeBatch(batches.flatMap(\.ip), "links-ip")
    let bridgeFile = try writeBatch(batches.flatMap(\.bridge), "links-bridge")
    defer {
        try? FileManager.default.removeItem(at: ipFile)
        try? FileManager.default.removeItem(at: bridgeFile)
    }
    var ipSamples: [Double] = [], bridgeSamples: [Double] = []
    for _ in 0..<repeats {
        try await withBenchNamespace { namespace in
            try prepareUnderlay(namespace)
            try await settle(namespace)
            let (ipStatus, ipElapsed) = try timed { try run(["ip", "-n", namespace.name!, "-batch", ipFile.path]) }
            let (bridgeStatus, bridgeElapsed) = try timed { try run(["bridge", "-n", namespace.name!, "-batch", bridgeFile.path]) }
            guard ipStatus == 0, bridgeStatus == 0 else { throw BenchFailure("ip/bridge -batch failed") }
            ipSamples.append(ipElapsed)
            bridgeSamples.append(bridgeElapsed)
        }
    }
    let sums = zip(ipSamples, bridgeSamples).map { $0 + $1 }
    report("  ip -batch (\(batches.flatMap(\.ip).count) lines: links)", ipSamples)
    report("  bridge -batch (\(batches.flatMap(\.bridge).count) lines: fdb append; ip -batch can't)", bridgeSamples)
    report("  ip -batch + bridge -batch (sum, incl. 2 process starts)", sums)
    print(String(format: "  ratio NetlinkLinks / (ip + bridge -batch) (p50): %.2f×", median(ours) / median(sums)))
}

// MARK: - fdb

/// N FDB entries, one `perform` each: static entries on a bridge port, and unicast VXLAN entries (one
/// MAC → one VTEP each); `bridge -batch` of the same entries for comparison.
func benchFDB() async throws {
    let count = integerOption("entries", 10_000)
    let repeats = iterations(3)
    func guestMAC(_ index: Int) -> MACAddress {
        MACAddress(octets: [0x52, 0x54, 0x00, UInt8(index >> 16 & 0xff), UInt8(index >> 8 & 0xff), UInt8(index & 0xff)])
    }
    func vtep(_ index: Int) -> IPAddress { .v4(0xC612_0000 | UInt32(index & 0xffff)) }  // 198.18.x.y
    print("fdb: \(count) entries, one LinkOperation each")

    for kind in [FDBEntrySpec.Kind.bridgeStatic, .vxlanRemote] {
        let entries = (0..<count).map { index in
            kind == .bridgeStatic
                ? FDBEntrySpec(interface: "port0", mac: guestMAC(index), kind: .bridgeStatic)
                : FDBEntrySpec(interface: "vxlan0", mac: guestMAC(index), kind: .vxlanRemote, destination: vtep(index))
        }
        let lines = entries.map { entry in
            kind == .bridgeStatic
                ? "fdb add \(entry.mac) dev \(entry.interface) master static"
                : "fdb append \(entry.mac) dev \(entry.interface) dst \(entry.destination!) self permanent"
        }
        let file = try writeBatch(lines, "fdb-\(kind.rawValue)")
        defer { try? FileManager.default.removeItem(at: file) }
        var ours: [Double] = [], tool: [Double] = []
        for useTool in [false, true] {
            for _ in 0..<repeats {
                try await withBenchNamespace { namespace in
                    try prepareUnderlay(namespace)
                    let links = try NetlinkLinks(namespace: namespace)
                    try await links.perform(.createLink(LinkSpec(name: "vnet0", kind: .bridge(BridgeLinkSettings()))))
                    try await links.perform(.createLink(LinkSpec(name: "port0", kind: .veth(VethLinkSettings(peer: "guest0")))))
                    try await links.perform(.createLink(LinkSpec(name: "vxlan0", kind: .vxlan(VXLANLinkSettings(vni: 1, local: try IPAddress(underlayAddress))))))
                    try await links.perform(.setMaster(name: "port0", master: "vnet0"))
                    try await links.perform(.setMaster(name: "vxlan0", master: "vnet0"))
                    try await settle(namespace)
                    if useTool {
                        let (status, elapsed) = try timed { try run(["bridge", "-n", namespace.name!, "-batch", file.path]) }
                        guard status == 0 else { throw BenchFailure("bridge -batch failed") }
                        tool.append(elapsed)
                    } else {
                        let (_, elapsed) = try await timedAsync {
                            try await performInRuns(entries.map { .addFDB($0) }, on: links)
                        }
                        ours.append(elapsed)
                        let observed = try await links.observe()
                        guard observed.fdb.count == count else { throw BenchFailure("observed \(observed.fdb.count) fdb entries") }
                    }
                }
            }
        }
        report("  NetlinkLinks \(count) × addFDB \(kind.rawValue)", ours)
        report("  bridge -batch, same \(count) entries", tool)
        print(String(format: "  ratio NetlinkLinks / bridge -batch (p50): %.2f×", median(ours) / median(tool)))
    }
}

/// Sends operations the way `sdn apply` does (`Applier`): runs of up to 256 per dataplane call.
func performInRuns(_ operations: [LinkOperation], on links: NetlinkLinks) async throws {
    var start = 0
    while start < operations.count {
        let run = Array(operations[start..<min(start + 256, operations.count)])
        let (_, failure) = await links.perform(run)
        if let failure { throw failure }
        start += run.count
    }
}
