import Foundation
import SDNNetns
import SDNTesting
import Testing

/// Issue 13's proof on a real kernel, through the product's own commands: a Proxmox VE cluster copy is
/// imported with `sdn import proxmox`, and what it writes is validated, compiled and applied to network
/// namespaces with `sdn apply --netns`, then checked with `sdn plan`; and for a node whose zone this
/// kernel can build, real packets meet the imported ruleset exactly as Proxmox's documented semantics
/// and `sdn trace` say.
@Suite(.serialized, .systemTest(tools: ["ip", "nft", "sh", "nc", "ping"], linkKinds: ["bridge", "veth"]))
struct ProxmoxImportApplyTests {
    /// The three-node sample of the importer's own tests (vlan and vxlan zones, bonds, VLAN-aware
    /// bridges, ten guests, every firewall level).
    static let sampleCluster = repositoryRoot + "/Tests/SDNProxmoxImportTests/Fixtures/sample-cluster/input"

    /// A scratch directory, removed with everything in it by the caller.
    static func scratchDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `sdn import proxmox INPUT --output DIRECTORY`, required to succeed and to validate its output.
    static func importWithCLI(sdn: String, input: String, into directory: String) throws -> String {
        let run = try Shell.run([sdn, "import", "proxmox", input, "--output", directory], timeout: .seconds(120))
        try #require(run.status == 0, "sdn import proxmox failed (\(run.status)):\n\(run.stdout)\n\(run.stderr)")
        #expect((run.stdout + run.stderr).contains("the imported configuration validates"), "\(run.stdout)\n\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory + "/IMPORT-REPORT.txt"))
        return run.stdout
    }

    /// The link kinds (as `ip link add … type` words) a node's plan creates that this kernel cannot.
    static func missingLinkKinds(forPlan plan: String) -> [String] {
        var needed: [String] = []
        if plan.contains("create bond ") { needed.append("bond") }
        if plan.contains("create vlan ") { needed.append("vlan") }
        if plan.contains("vlan_filtering on") { needed.append("bridge vlan_filtering 1") }
        if plan.contains("create vxlan ") { needed.append("vxlan") }
        return needed.compactMap { LinkKindProbe.problem(with: $0) }
    }

    // MARK: - The sample cluster, node by node

    @Test func sampleClusterImportsValidatesCompilesAndAppliesOnEveryNode() throws {
        try NetworkNamespace.removeStale()
        let sdn = try KernelLab.productBinary("sdn")
        let work = try Self.scratchDirectory("pve-sample")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let imported = work + "/imported"
        _ = try Self.importWithCLI(sdn: sdn, input: Self.sampleCluster, into: imported)
        let config = ["--config", imported + "/Topologies", "--config", imported + "/Policies"]

        let validate = try Shell.run([sdn, "validate"] + config, timeout: .seconds(60))
        #expect(validate.status == 0, "sdn validate: \(validate.stdout)\n\(validate.stderr)")

        let nodes = ["pve1", "pve2", "pve3"]
        for node in nodes {
            for layout in ["full", "minimal"] {
                let compile = try Shell.run([sdn, "compile", "--node", node, "--kernel", layout] + config, timeout: .seconds(60))
                #expect(compile.status == 0, "sdn compile --node \(node) --kernel \(layout): \(compile.stderr)")
                #expect(compile.stdout.contains("table inet sdn"), "\(node) \(layout)")
            }
        }

        for node in nodes {
            let name = "sdntest-\(getpid())-pve-\(node)"
            let namespace = try NetworkNamespace.create(named: name)
            defer { try? namespace.delete() }
            try Shell.output(["ip", "link", "set", "lo", "up"], in: namespace)
            let base = config + ["--node", node, "--netns", name]

            // What the whole plan needs from the kernel decides the scope: links and firewall when
            // this kernel can make every link kind, the firewall alone otherwise (said, not hidden).
            let dryRun = try Shell.run([sdn, "plan"] + base, timeout: .seconds(60))
            #expect(dryRun.status == 3, "a fresh namespace has changes pending: \(dryRun.stdout)\n\(dryRun.stderr)")
            let missing = Self.missingLinkKinds(forPlan: dryRun.stdout)
            var scope: [String] = []
            if !missing.isEmpty {
                print("node \(node): links not applied, only the firewall: \(missing.joined(separator: "; ")) "
                    + "(KernelLabTests.proxmoxSampleClusterAppliesOnEveryNode applies links and firewall on a kernel that has them)")
                scope = ["--firewall"]
            }

            let apply = try Shell.run([sdn, "apply", "--yes"] + scope + base, timeout: .seconds(120))
            #expect(apply.status == 0, "sdn apply --node \(node) \(scope.joined()): \(apply.stdout)\n\(apply.stderr)")
            #expect(apply.stdout.contains("node \(node): converged"), "\(apply.stdout)")

            let plan = try Shell.run([sdn, "plan"] + scope + base, timeout: .seconds(60))
            #expect(plan.status == 0, "sdn plan after apply on \(node): \(plan.stdout)\n\(plan.stderr)")
            #expect(plan.stdout.contains("nothing to do"), "\(plan.stdout)")

            // The kernel holds the node's firewall: one chain per guest NIC of this node with its
            // firewall on, read back with `nft`, not with our own decoder.
            let listing = try Shell.run(["nft", "list", "chains"], in: namespace)
            #expect(listing.status == 0, "\(listing.stderr)")
            for guest in Self.firewalledGuests[node] ?? [] {
                #expect(listing.stdout.contains("chain guest-\(guest)-net0-in "), "node \(node): no inbound chain of guest \(guest)")
            }
            for other in nodes where other != node {
                for guest in Self.firewalledGuests[other] ?? [] {
                    #expect(!listing.stdout.contains("chain guest-\(guest)-net0-in "), "node \(node) holds guest \(guest) of \(other)")
                }
            }
            #expect(listing.stdout.contains("chain node-\(node)-in "), "node \(node): no host chain")
        }
    }

    /// The guests whose `.fw` says `enable: 1` and whose net0 says `firewall=1`, by node.
    static let firewalledGuests: [String: [Int]] = ["pve1": [100, 101, 200], "pve2": [102], "pve3": [203]]
}
