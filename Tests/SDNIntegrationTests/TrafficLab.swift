import Foundation
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNNetns
import SDNTesting
import Synchronization

/// A node namespace with one bridge per vnet and one namespace per guest NIC, wired as the topology
/// says (guest side `eth0` with the declared MAC and address, node side named like a real tap/veth).
/// Built with `ip` (test-side setup), torn down whatever happens.
final class TrafficLab {
    let node: NetworkNamespace
    let state: DesiredState
    let validated: Validated<DesiredState>
    private(set) var guestNamespaces: [Int: NetworkNamespace] = [:]
    private let prefix: String

    static func fixture(_ name: String) throws -> Validated<DesiredState> {
        let documents = loadDocuments(under: fixturesDirectory(name))
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(documents)
        guard let validated else { throw LabError("fixture \(name) does not validate: \(diagnostics.map(\.description))") }
        return validated
    }

    init(_ validated: Validated<DesiredState>) throws {
        self.validated = validated
        self.state = validated.value
        // Suites run in parallel in one process: each lab needs names of its own.
        prefix = "sdnlab\(getpid() % 100000)n\(TrafficLab.nextLabNumber())"
        node = try NetworkNamespace.create(named: "\(prefix)-node")
        do { try build() } catch {
            teardown()
            throw error
        }
    }

    private func ip(_ arguments: String..., in namespace: NetworkNamespace? = nil) throws {
        let result = try Shell.run(["ip"] + (namespace.map { ["-n", $0.name!] } ?? []) + arguments)
        guard result.status == 0 else { throw LabError("ip \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    private func build() throws {
        try ip("link", "set", "lo", "up", in: node)
        _ = try Shell.run(["ip", "netns", "exec", node.name!, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for vnet in state.vnets {
            try ip("link", "add", vnet.name, "type", "bridge", in: node)
            for subnet in vnet.subnets {
                if let gateway = subnet.gateway { try ip("addr", "add", "\(gateway)/\(subnet.cidr.length)", "dev", vnet.name, in: node) }
            }
            try ip("link", "set", vnet.name, "up", in: node)
        }
        for guest in state.guests {
            for nic in guest.nics {
                guard case .vnet(let vnetName) = nic.attachment, let vnet = state.vnet(named: vnetName) else { continue }
                let namespace = try NetworkNamespace.create(named: "\(prefix)-g\(guest.id)")
                guestNamespaces[guest.id] = namespace
                let port = InterfaceNaming.guestInterface(kind: guest.kind, guestID: guest.id, nicIndex: nic.index)
                try ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace.name!, in: node)
                try ip("link", "set", port, "master", vnet.name, "up", in: node)
                try ip("link", "set", "lo", "up", in: namespace)
                if let mac = nic.mac { try ip("link", "set", "eth0", "address", mac.description, in: namespace) }
                let subnet = vnet.subnets.first!
                for address in nic.ips { try ip("addr", "add", "\(address.address)/\(subnet.cidr.length)", "dev", "eth0", in: namespace) }
                try ip("link", "set", "eth0", "up", in: namespace)
                if let gateway = subnet.gateway { try ip("route", "add", "default", "via", gateway.description, in: namespace) }
            }
        }
    }

    func namespace(ofGuest id: Int) -> NetworkNamespace { guestNamespaces[id]! }

    func run(_ arguments: [String], inGuest id: Int, timeout: Duration = .seconds(10)) throws -> (status: Int32, stdout: String, stderr: String) {
        try Shell.run(arguments, in: namespace(ofGuest: id), timeout: timeout)
    }

    func teardown() {
        for namespace in guestNamespaces.values { try? namespace.delete() }
        guestNamespaces = [:]
        try? node.delete()
    }

    deinit { teardown() }

    private static let labCounter = Mutex(0)
    static func nextLabNumber() -> Int {
        labCounter.withLock { value in
            value += 1
            return value
        }
    }

    /// Whether a TCP connection from one guest to an address and port succeeds (server started first).
    func tcpConnects(from source: Int, to destinationGuest: Int, address: IPAddress, port: UInt16) throws -> Bool {
        try SDNIntegrationTests.tcpConnects(from: namespace(ofGuest: source), to: namespace(ofGuest: destinationGuest), address: address.description, port: port)
    }

    /// Whether a UDP datagram from one guest reaches a listener on another.
    func udpArrives(from source: Int, to destinationGuest: Int, address: IPAddress, port: UInt16) throws -> Bool {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sdnlab-udp-\(getpid())-\(port)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", namespace(ofGuest: destinationGuest).name!, "nc", "-u", "-l", "-p", "\(port)"]
        server.standardOutput = try FileHandle(forWritingTo: output)
        server.standardError = FileHandle.nullDevice
        try server.run()
        Thread.sleep(forTimeInterval: 0.3)
        _ = try run(["sh", "-c", "echo sdn-probe | nc -u -w 1 \(address) \(port)"], inGuest: source)
        Thread.sleep(forTimeInterval: 0.3)
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        return (try String(contentsOf: output, encoding: .utf8)).contains("sdn-probe")
    }

    func pings(from source: Int, to address: IPAddress, sourceAddress: IPAddress? = nil) throws -> Bool {
        var arguments = ["ping", "-c", "1", "-W", "1"]
        if let sourceAddress { arguments += ["-I", sourceAddress.description] }
        return try run(arguments + [address.description], inGuest: source).status == 0
    }

    /// The packet counter of a rule, by our rule id (its comment), read back with `nft -j`.
    func counter(ofRule id: String, family: String = "bridge") throws -> Int {
        let listing = try Shell.run(["ip", "netns", "exec", node.name!, "nft", "-j", "list", "table", family, "sdn"])
        let root = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: Any]
        for item in root?["nftables"] as? [[String: Any]] ?? [] {
            guard let rule = item["rule"] as? [String: Any], rule["comment"] as? String == id else { continue }
            for expression in rule["expr"] as? [[String: Any]] ?? [] {
                if let counter = expression["counter"] as? [String: Any] { return counter["packets"] as? Int ?? 0 }
            }
        }
        throw LabError("no counter for rule \(id)")
    }
}

/// Whether a TCP connection from one namespace to an address and port succeeds, with a listener started
/// first in `server`'s namespace.
func tcpConnects(from client: NetworkNamespace, to server: NetworkNamespace, address: String, port: UInt16) throws -> Bool {
    let listener = Process()
    listener.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    // `ip netns exec` execs nc itself, so SIGKILL reaches the listener (children of the test process
    // may inherit blocked signals, which makes `timeout` and SIGTERM unreliable here).
    listener.arguments = ["netns", "exec", server.name!, "nc", "-l", "-p", "\(port)"]
    listener.standardOutput = FileHandle.nullDevice
    listener.standardError = FileHandle.nullDevice
    try listener.run()
    defer {
        kill(listener.processIdentifier, SIGKILL)
        listener.waitUntilExit()
    }
    Thread.sleep(forTimeInterval: 0.3)
    return try Shell.run(["nc", "-z", "-w", "2", address, "\(port)"], in: client, timeout: .seconds(10)).status == 0
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Which profile this kernel supports, found by loading a one-rule bridge table with `ct` in a scratch namespace.
let detectedKernelFeatures: KernelFeatures = {
    guard let namespace = try? NetworkNamespace.create(named: "sdnprobe\(getpid() % 100000)") else { return .minimal }
    defer { try? namespace.delete() }
    let script = "add table bridge probe\nadd chain bridge probe c { type filter hook forward priority 0; }\nadd rule bridge probe c ct state established accept\n"
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdnprobe-\(getpid()).nft")
    try? script.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try? Shell.run(["ip", "netns", "exec", namespace.name!, "nft", "-f", file.path])
    return result?.status == 0 ? .full : .minimal
}()
