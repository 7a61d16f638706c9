import Foundation
import SDNNetns
import SDNTesting
import Testing

/// The path matrix of issue 8 on this machine's kernel, in the `minimal` layout: the fixture
/// `path-matrix` applied to a node namespace with the real `sdn apply --netns`, guests and an outside
/// host as namespaces, every flow sent for real with `sdn-probe`, and each outcome compared with the
/// policy's intent (PathMatrix's oracle) and with `sdn trace --kernel minimal`. The kernel lab runs the
/// same matrix in the `full` layout (KernelLabTests.pathMatrixInTheFullLayout).
@Suite(.serialized, .systemTest(tools: ["ip", "nft", "sh"], linkKinds: ["bridge", "veth"]))
struct PathMatrixTests {
    @Test func everyPathMeetsTheGuestPolicyInTheMinimalLayout() throws {
        try NetworkNamespace.removeStale()
        let layout = PathMatrix.Layout.minimal
        let sdn = try KernelLab.productBinary("sdn")
        let probe = try KernelLab.productBinary("sdn-probe")
        let nft = try #require(ExecutableLookup.find("nft"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-path-matrix-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let settings = PathMatrix.ScriptSettings(
            prefix: "sdntest-\(getpid())-pm", sdn: sdn, probe: probe, nft: nft, fixture: PathMatrix.fixtureDirectory,
            work: directory + "/work", layout: layout
        )
        // The kernel lab's `section`, on the host: each section a file in out/.
        let script = "section() { _section=$1; shift; \"$@\" >\"\(directory)/out/$_section\"; }\n" + PathMatrix.script(settings)
        try script.write(toFile: directory + "/run.sh", atomically: true, encoding: .utf8)

        let started = ContinuousClock.now
        let run = try Shell.run(["sh", directory + "/run.sh"], timeout: .seconds(240))
        let labTime = ContinuousClock.now - started
        var sections: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/out")) ?? [] {
            sections[name] = try? String(contentsOfFile: directory + "/out/" + name, encoding: .utf8)
        }
        let apply = sections["apply"] ?? ""
        // The script stops with status 4 when `sdn apply` fails: say that first, with its output.
        try #require(apply.isEmpty || apply.contains("apply status 0"), "sdn apply failed:\n\(apply)")
        try #require(run.status == 0, "the lab script failed (status \(run.status)):\n\(run.stderr)\n\(apply)")

        let traced = ContinuousClock.now
        let predictions = PathMatrix.predictions(sdn: sdn, layout: layout)
        let traceTime = ContinuousClock.now - traced
        let rows = PathMatrix.rows(observation: PathMatrix.Observation(sections: sections), predictions: predictions, layout: layout)
        print(PathMatrix.table(rows, layout: layout))
        print("path matrix (\(layout.rawValue)): lab \(labTime.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))), "
            + "traces \(traceTime.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        for row in rows {
            if !row.kernelAgrees { Issue.record("kernel ≠ intent: \(row.line) \(row.errors.joined(separator: "; "))") }
            if !row.traceAgrees { Issue.record("sdn trace ≠ intent: \(row.line) \(row.errors.joined(separator: "; "))") }
        }
    }
}
