import Foundation
import SDNNetns
import SDNTesting
import Testing

/// Real traffic through an imported Proxmox node, on this machine's kernel (`minimal` layout): the
/// Proxmox files of Fixtures/proxmox-simple-zone imported with `sdn import proxmox`, applied with
/// `sdn apply --netns`, and a sample of the semantic-equivalence table sent for real, each packet
/// compared with Proxmox's verdict and with `sdn trace` (ProxmoxTrafficLab has the lab and the table;
/// the kernel lab runs the same in the `full` layout: KernelLabTests.proxmoxTrafficInTheFullLayout).
extension ProxmoxImportApplyTests {
    @Test func importedFirewallMeetsProxmoxSemanticsOnRealTraffic() throws {
        try NetworkNamespace.removeStale()
        // As PathMatrixTests: minimal needs nothing this kernel lacks.
        let layout = "minimal"
        let sdn = try KernelLab.productBinary("sdn")
        let probe = try KernelLab.productBinary("sdn-probe")
        let work = try Self.scratchDirectory("pve-traffic")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let imported = work + "/imported"
        _ = try Self.importWithCLI(sdn: sdn, input: ProxmoxTrafficLab.fixture, into: imported)

        let settings = ProxmoxTrafficLab.ScriptSettings(prefix: "sdntest-\(getpid())-pvet", sdn: sdn, probe: probe, imported: imported,
                                                        work: work + "/work", layout: layout)
        // The kernel lab's `section`, on the host: each section a file in out/.
        let script = "mkdir -p '\(work)/out'\nsection() { _section=$1; shift; \"$@\" >\"\(work)/out/$_section\" 2>&1; }\n" + ProxmoxTrafficLab.script(settings)
        try script.write(toFile: work + "/run.sh", atomically: true, encoding: .utf8)
        let run = try Shell.run(["sh", work + "/run.sh"], timeout: .seconds(240))
        var sections: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: work + "/out")) ?? [] {
            sections[name] = try? String(contentsOfFile: work + "/out/" + name, encoding: .utf8)
        }
        let apply = sections["apply"] ?? ""
        try #require(run.status == 0, "the lab script failed (status \(run.status)):\n\(run.stderr)\n\(apply)")
        #expect(apply.contains("node pve1: converged"), "\(apply)")
        let plan = sections["plan"] ?? ""
        #expect(plan.contains("plan status 0") && plan.contains("nothing to do"), "sdn plan after apply:\n\(plan)")

        let rows = ProxmoxTrafficLab.rows(sections: sections, traces: ProxmoxTrafficLab.traced(sdn: sdn, imported: imported, layout: layout), layout: layout)
        print(ProxmoxTrafficLab.table(rows, layout: layout))
        for row in rows {
            for problem in row.problems { Issue.record(Comment(rawValue: problem)) }
        }
    }
}
