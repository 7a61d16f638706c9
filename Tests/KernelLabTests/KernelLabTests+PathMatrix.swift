import Foundation
import SDNTesting
import Testing

/// The path matrix of issue 8 in the `full` layout, on Debian's stock kernel: the same fixture, lab
/// script and flows as PathMatrixTests (the `minimal` layout on this machine), run inside one boot of
/// the kernel lab with `sdn apply --kernel full`; the outcomes come back as sections and are compared
/// here with the intent and with `sdn trace --kernel full`.
extension KernelLabTests {
    @Test func pathMatrixInTheFullLayout() async throws {
        let layout = PathMatrix.Layout.full
        let sdn = try KernelLab.productBinary("sdn")
        let probe = try KernelLab.productBinary("sdn-probe")
        let nft = try #require(ExecutableLookup.find("nft"), "`nft` not found: the lab reads the counters with it")
        let settings = PathMatrix.ScriptSettings(
            prefix: "pm", sdn: "/usr/local/bin/sdn", probe: "/usr/local/bin/sdn-probe", nft: "/usr/local/bin/nft",
            fixture: "/lab/fixture", work: "/tmp/pm", layout: layout,
            // TCG is slow: an answer may take longer than on the host, a drop must not be mistaken for one.
            connectTimeoutMilliseconds: 3000
        )
        let modules = KernelLab.firewallModules.map { "modprobe \($0) || echo 'modprobe \($0) failed' >&2" }.joined(separator: "\n")
        let result = try await KernelLab.run(
            script: modules + "\n" + PathMatrix.script(settings),
            files: ["/lab/fixture": PathMatrix.fixtureDirectory],
            binaries: [sdn, probe, nft],
            memoryMiB: 768
        )
        print("kernel lab: path matrix boot \(Self.timing(result))")
        let apply = result.sections["apply"] ?? ""
        // The script stops with status 4 when `sdn apply` fails: say that first, with its output.
        try #require(apply.isEmpty || apply.contains("apply status 0"), "sdn apply --kernel full failed in the lab:\n\(apply)")
        try #require(result.exitCode == 0, "the lab script failed (status \(result.exitCode)):\n\(result.stderr)\n\(apply)")
        #expect(!result.stderr.contains("modprobe"), "\(result.stderr)")

        let predictions = PathMatrix.predictions(sdn: sdn, layout: layout)
        let rows = PathMatrix.rows(observation: PathMatrix.Observation(sections: result.sections), predictions: predictions, layout: layout)
        print(PathMatrix.table(rows, layout: layout))
        for row in rows {
            if !row.kernelAgrees { Issue.record("kernel ≠ intent: \(row.line) \(row.errors.joined(separator: "; "))") }
            if !row.traceAgrees { Issue.record("sdn trace ≠ intent: \(row.line) \(row.errors.joined(separator: "; "))") }
        }
    }
}
