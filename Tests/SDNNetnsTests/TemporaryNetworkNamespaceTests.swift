import Foundation
import Glibc
import SDNNetns
import SDNTesting
import Testing

@Suite("Temporary namespaces and stale cleanup", .systemTest(tools: ["ip"]))
struct TemporaryNetworkNamespaceTests {
    struct BodyFailure: Error {}

    @Test func isNamedAfterThisProcessAndRemovedAfterTheBody() throws {
        let namespace = try withTemporaryNetworkNamespace { $0 }
        let name = try #require(namespace.name)
        #expect(name.hasPrefix("sdntest-\(getpid())-"))
        #expect(!FileManager.default.fileExists(atPath: namespace.path))
        #expect(!NamespaceProbe.listedNames(try Shell.output(["ip", "netns", "list"])).contains(name))
    }

    @Test func isRemovedWhenTheBodyThrows() throws {
        var seen: NetworkNamespace?
        #expect(throws: BodyFailure.self) {
            try withTemporaryNetworkNamespace { namespace in
                seen = namespace
                #expect(FileManager.default.fileExists(atPath: namespace.path))
                throw BodyFailure()
            }
        }
        let namespace = try #require(seen)
        #expect(!FileManager.default.fileExists(atPath: namespace.path))
        #expect(!NamespaceProbe.listedNames(try Shell.output(["ip", "netns", "list"])).contains(try #require(namespace.name)))
    }

    @Test func asyncFormIsRemovedWhenTheBodyThrows() async throws {
        var seen: NetworkNamespace?
        await #expect(throws: BodyFailure.self) {
            try await withTemporaryNetworkNamespace { namespace in
                seen = namespace
                try await Task.sleep(for: .milliseconds(1))
                throw BodyFailure()
            }
        }
        let namespace = try #require(seen)
        #expect(!FileManager.default.fileExists(atPath: namespace.path))
    }

    @Test func manyAtOnceAreDistinct() async throws {
        let inodes = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await withTemporaryNetworkNamespace { namespace in
                        try await namespace.run { NamespaceProbe.currentThreadInode() }
                    }
                }
            }
            return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
        }
        #expect(inodes.count == 8)
    }

    @Test func removeStaleDeletesLeftoversOfDeadProcessesOnly() throws {
        // A separate prefix keeps this test away from other tests' live namespaces.
        let prefix = "sdnstale-"
        let deadPid = try Self.pidOfAnExitedProcess()
        let mine = try NetworkNamespace.create(named: "\(prefix)\(getpid())-1")
        defer { try? mine.delete() }
        let leftover = try NetworkNamespace.create(named: "\(prefix)\(deadPid)-1")
        defer { try? leftover.delete() }
        // A leftover of a creation killed between creating the file and mounting onto it.
        let halfCreated = "/run/netns/\(prefix)\(deadPid)-2"
        #expect(FileManager.default.createFile(atPath: halfCreated, contents: nil))
        defer { unlink(halfCreated) }
        let withoutPid = try NetworkNamespace.create(named: "\(prefix)nopid")
        defer { try? withoutPid.delete() }

        let removed = try NetworkNamespace.removeStale(prefix: prefix)

        #expect(removed == ["\(prefix)\(deadPid)-1", "\(prefix)\(deadPid)-2"])
        #expect(!FileManager.default.fileExists(atPath: leftover.path))
        #expect(!FileManager.default.fileExists(atPath: halfCreated))
        #expect(try NetworkNamespace.named("\(prefix)\(getpid())-1") == mine)
        #expect(try NetworkNamespace.named("\(prefix)nopid") == withoutPid)
    }

    /// The pid of a shell that has already exited: a pid that is surely not alive right now.
    static func pidOfAnExitedProcess() throws -> Int32 {
        let output = try Shell.output(["sh", "-c", "echo $$"])
        let pid = try #require(Int32(output.trimmingCharacters(in: .whitespacesAndNewlines)))
        try #require(kill(pid, 0) == -1 && errno == ESRCH, "pid \(pid) is still in use")
        return pid
    }
}
