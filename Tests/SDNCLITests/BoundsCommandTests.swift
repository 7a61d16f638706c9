import Foundation
import SDNTesting
import Testing

/// What `sdn validate` accepts, `sdn compile` compiles: the lockout check runs in both, and input
/// that cannot be read stops both with exit status 2.
@Suite struct BoundsCommandTests {
    func sdn(_ arguments: [String], as user: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests (run `swift build` first)")
        return try Shell.run(user + [binary] + arguments)
    }

    @Test func validateRefusesTheLockoutCompileRefuses() throws {
        let directory = fixturesDirectory("lockout")
        let validated = try sdn(["validate", "--color", "never", directory + "/Topologies", directory + "/Policies"])
        #expect(validated.status == 1, "\(validated.stdout)")
        #expect(validated.stdout.contains("policy.yaml:2:41: error: the firewall of node 'demo1' would block SSH (22) from management network 192.0.2.0/24"), "\(validated.stdout)")
        #expect(validated.stdout.contains("invalid: 2 files; 2 errors"), "\(validated.stdout)")
        let json = try sdn(["validate", "--output", "json", directory + "/Topologies", directory + "/Policies"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == false)
        #expect((object?["diagnostics"] as? [[String: Any]])?.map { $0["code"] as? String } == ["lockout", "lockout"])
    }

    @Test func compileWithoutNodesSaysSo() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-no-nodes-\(getpid()).yaml")
        try "kind: policy\ncluster: [in accept SSH]\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try sdn(["compile", file.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no node is defined"), "\(result.stderr)")
        #expect(!result.stderr.contains("several nodes"))
    }

    /// A directory the user cannot list, for real: as `nobody`, which root can become with setpriv.
    @Test(.enabled(if: geteuid() == 0 && ExecutableLookup.find("setpriv") != nil, "needs root and setpriv to run sdn as an unprivileged user"))
    func unlistableDirectoryExitsTwo() throws {
        let root = "/tmp/sdn-unlistable-\(getpid())"
        try FileManager.default.createDirectory(atPath: root + "/Policies/tenants", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "cluster: [in accept SSH]\n".write(toFile: root + "/Policies/cluster.yaml", atomically: true, encoding: .utf8)
        try "groups: { web: [in accept HTTP] }\n".write(toFile: root + "/Policies/tenants/web.yaml", atomically: true, encoding: .utf8)
        for path in [root, root + "/Policies"] { chmod(path, 0o755) }
        chmod(root + "/Policies/cluster.yaml", 0o644)
        chmod(root + "/Policies/tenants", 0o000)
        let result = try sdn(["validate", root + "/Policies"], as: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("\(root)/Policies/tenants/: cannot list the directory (Permission denied)"), "\(result.stderr)")
    }
}
