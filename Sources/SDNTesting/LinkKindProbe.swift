import Foundation
import SDNNetns
import Synchronization

/// Finds out whether the kernel can create a link kind, by creating one in a throwaway namespace.
public enum LinkKindProbe {
    private static let results = Mutex([String: String?]())

    /// `nil` if `specification` (a kind plus optional `ip link add … type KIND` arguments) works,
    /// else why not. Cached per specification for the life of the process.
    public static func problem(with specification: String) -> String? {
        if let cached = results.withLock({ $0[specification] }) { return cached }
        let problem = probe(specification)
        results.withLock { $0[specification] = problem }
        return problem
    }

    private static func probe(_ specification: String) -> String? {
        let words = specification.split(separator: " ").map(String.init)
        guard let kind = words.first else { return "empty link kind" }
        do {
            return try withTemporaryNetworkNamespace { namespace -> String? in
                var command = ["ip", "link", "add"]
                // Kinds that stack on another link get a bridge as their lower device.
                if ["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"].contains(kind) {
                    try Shell.output(["ip", "link", "add", "sdnprobe-low", "type", "bridge"], in: namespace)
                    command += ["link", "sdnprobe-low"]
                }
                command += ["sdnprobe0", "type"] + words + (words.count == 1 ? defaultArguments[kind, default: []] : [])
                let result = try Shell.run(command, in: namespace)
                guard result.status != 0 else { return nil }
                let reason = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                return "kernel cannot create link kind `\(specification)` (\(reason))"
            }
        } catch {
            return "could not probe link kind `\(specification)`: \(error)"
        }
    }

    /// Arguments without which `ip link add` refuses these kinds before asking the kernel.
    private static let defaultArguments: [String: [String]] = [
        "vlan": ["id", "10"],
        "vxlan": ["id", "42", "dstport", "4789"],
        "geneve": ["id", "42", "remote", "192.0.2.1"],
        "veth": ["peer", "name", "sdnprobe1"],
        "vrf": ["table", "10"],
    ]
}
