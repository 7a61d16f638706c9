import Glibc
import SDNNetns
import Testing

/// What needs no privileges: argument checks and the process's own namespace.
@Suite("Namespace values and errors")
struct NamespaceValueTests {
    @Test func currentIsThisProcesssNamespace() throws {
        let current = NetworkNamespace.current
        #expect(current.name == nil)
        #expect(current.path == "/proc/\(getpid())/ns/net")
        #expect(try current.inode() == NamespaceProbe.currentThreadInode())
        #expect(try current.run { NamespaceProbe.currentThreadInode() } == NamespaceProbe.currentThreadInode())
    }

    @Test(arguments: ["", ".", "..", "a/b", String(repeating: "n", count: 300)])
    func invalidNamesAreRejectedBeforeAnySystemCall(_ name: String) throws {
        let error = try #require(throws: NetnsError.self) { try NetworkNamespace.create(named: name) }
        #expect(error.errno == nil)
        #expect(error.operation == "validate name")
    }

    @Test func anUnnamedNamespaceCannotBeDeleted() throws {
        let error = try #require(throws: NetnsError.self) { try NetworkNamespace.current.delete() }
        #expect(error.message.contains("only a named namespace"))
    }

    @Test func descriptionNamesOperationPathAndErrno() {
        let error = NetnsError(operation: "setns", errno: EPERM, path: "/run/netns/blue")
        #expect(error.description == "setns /run/netns/blue: Operation not permitted (errno 1)")
    }

    @Test func descriptionWithoutErrno() {
        let error = NetnsError(operation: "validate name", message: "invalid")
        #expect(error.description == "validate name: invalid")
    }
}
