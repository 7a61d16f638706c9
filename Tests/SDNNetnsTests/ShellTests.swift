import Foundation
import SDNNetns
import SDNTesting
import Testing

@Suite("Shell helper for tests")
struct ShellTests {
    @Test func returnsStatusAndBothOutputs() throws {
        let result = try Shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func outputThrowsOnFailureWithTheErrorText() throws {
        let error = try #require(throws: ShellError.self) {
            try Shell.output(["sh", "-c", "echo broken >&2; exit 1"])
        }
        #expect(error.code == .failed)
        #expect(error.status == 1)
        #expect(error.stderr == "broken\n")
    }

    @Test func childrenGetNoBlockedOrIgnoredSignals() throws {
        // The test runner's threads block nearly every signal and ignore SIGPIPE; tools that time out
        // with SIGALRM (nc -w, ping -W, timeout) must not inherit that. (Signals 32 and 33 are glibc's
        // own, which posix_spawn cannot reset: only the standard ones 1-31 are checked.)
        func standardSignals(_ field: String, in status: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
                .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }.map { $0 & 0x7fff_ffff }
        }
        let status = try Shell.output(["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        #expect(standardSignals("SigBlk", in: status) == 0, "\(status)")
        #expect(standardSignals("SigIgn", in: status) == 0, "\(status)")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-signals-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let background = try BackgroundProcess(executable: "/bin/sh", arguments: ["-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status"], logPath: log)
        #expect(background.wait(timeout: .seconds(10)) == 0)
        #expect(standardSignals("SigBlk", in: background.log) == 0, "\(background.log)")
        #expect(standardSignals("SigIgn", in: background.log) == 0, "\(background.log)")
    }

    @Test func missingToolIsReported() throws {
        let error = try #require(throws: ShellError.self) { try Shell.run(["sdn-no-such-tool"]) }
        #expect(error.code == .executableNotFound)
    }

    @Test func largeOutputDoesNotDeadlock() throws {
        // More than a pipe buffer (64 KiB) on both streams at once.
        let result = try Shell.run(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero | tr '\\0' b >&2"])
        #expect(result.stdout.utf8.count == 300_000)
        #expect(result.stderr.utf8.count == 300_000)
    }

    @Test func aHungCommandIsKilledAfterTheTimeout() throws {
        let start = ContinuousClock.now
        let error = try #require(throws: ShellError.self) {
            // The sleeping grandchild holds the pipes open: it must die with its process group.
            try Shell.run(["sh", "-c", "echo started; sleep 30; echo never"], timeout: .milliseconds(500))
        }
        #expect(error.code == .timedOut)
        #expect(error.stdout == "started\n")
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test(.systemTest(tools: ["ip"]))
    func runsInsideANamedNamespace() throws {
        try withTemporaryNetworkNamespace { namespace in
            let links = try Shell.output(["ip", "-o", "link", "show"], in: namespace)
            #expect(links.split(separator: "\n").count == 1)
            #expect(links.contains("lo:"))
        }
    }

    @Test(.systemTest(tools: ["ip", "nsenter"]))
    func runsInsideANamespaceKnownOnlyByItsPath() throws {
        try withTemporaryNetworkNamespace { namespace in
            let byPath = NetworkNamespace(path: namespace.path)
            let links = try Shell.output(["ip", "-o", "link", "show"], in: byPath)
            #expect(links.split(separator: "\n").count == 1)
        }
    }
}
