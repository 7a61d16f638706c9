import Foundation
import Glibc
import SDNNetns
import SDNTesting
import Testing

/// A namespace must never outlive the call that entered it on some thread of this process: a
/// thread created from inside a namespace inherits it, so a pool thread born there would run
/// unrelated work in the wrong namespace.
@Suite("No thread is left in a namespace", .systemTest(tools: ["ip"]))
struct ThreadLeakTests {
    @Test func asyncRunsLeaveNoThreadInTheNamespace() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            // Many concurrent resumptions make the runtime grow its thread pool, and a pool thread
            // is created by whichever thread enqueues the work.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        _ = try await namespace.run { NamespaceProbe.currentThreadInode() }
                        // Keep the pool busy so that resuming the next continuation needs a new thread.
                        usleep(20_000)
                    }
                }
                try await group.waitForAll()
            }
            let leaked = try await Self.threadsInNamespace(try namespace.inode())
            #expect(leaked.isEmpty, "threads still in \(namespace): \(leaked)")
        }
    }

    /// Thread ids of this process in namespace `inode`, once dedicated threads that are merely
    /// finishing (this or parallel tests) had time to exit.
    static func threadsInNamespace(_ inode: UInt64) async throws -> [String] {
        var found: [String] = []
        for _ in 0..<20 {
            found = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { task in
                var status = stat()
                return stat("/proc/self/task/\(task)/ns/net", &status) == 0 && UInt64(status.st_ino) == inode
            }
            if found.isEmpty { return [] }
            try await Task.sleep(for: .milliseconds(100))
        }
        return found
    }
}
