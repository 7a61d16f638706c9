import Foundation
import Glibc
import SDNNetns
import SDNTesting
import Testing

/// Every namespace here is created by the test itself and removed afterwards; the host's own
/// interfaces are only ever read.
@Suite("Network namespaces", .systemTest(tools: ["ip"]))
struct NetworkNamespaceTests {
    @Test func createdNamespaceIsListedByIPAndGoneAfterDelete() throws {
        // Carries this process's pid, so removeStale cleans it up if the test is killed midway.
        let name = "sdntest-\(getpid())-create"
        let namespace = try NetworkNamespace.create(named: name)
        var isDeleted = false
        defer { if !isDeleted { try? namespace.delete() } }

        #expect(namespace.name == name)
        #expect(namespace.path == "/run/netns/\(name)")
        #expect(NamespaceProbe.listedNames(try Shell.output(["ip", "netns", "list"])).contains(name))
        // `ip` itself can enter it: proof that it is a real, iproute2-compatible named namespace.
        #expect(try Shell.output(["ip", "-n", name, "-o", "link", "show"]).contains("lo:"))

        try namespace.delete()
        isDeleted = true
        #expect(!NamespaceProbe.listedNames(try Shell.output(["ip", "netns", "list"])).contains(name))
        #expect(!FileManager.default.fileExists(atPath: namespace.path))
    }

    @Test func creatingLeavesTheCallersThreadWhereItWas() throws {
        let before = NamespaceProbe.currentThreadInode()
        try withTemporaryNetworkNamespace { namespace in
            #expect(NamespaceProbe.currentThreadInode() == before)
            try #expect(namespace.inode() != before)
        }
    }

    @Test func runEntersTheNamespaceOnAnotherThreadOnly() throws {
        let host = NamespaceProbe.currentThreadInode()
        try withTemporaryNetworkNamespace { namespace in
            let inside = try namespace.run { NamespaceProbe.currentThreadInode() }
            #expect(inside != host)
            try #expect(inside == namespace.inode())
            #expect(NamespaceProbe.currentThreadInode() == host)
        }
    }

    @Test func asyncRunEntersTheNamespace() async throws {
        let host = NamespaceProbe.currentThreadInode()
        try await withTemporaryNetworkNamespace { namespace in
            let inside = try await namespace.run { NamespaceProbe.currentThreadInode() }
            try #expect(inside == namespace.inode())
            #expect(inside != host)
        }
    }

    @Test func runPassesTheBodysErrorThrough() throws {
        struct Expected: Error {}
        try withTemporaryNetworkNamespace { namespace in
            #expect(throws: Expected.self) {
                try namespace.run { () throws -> Int in throw Expected() }
            }
        }
    }

    @Test func loopbackIsUpInATemporaryNamespace() throws {
        try withTemporaryNetworkNamespace { namespace in
            let socket = try namespace.openSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
            defer { close(socket) }
            // The ioctl runs on this (host) thread: the socket carries the namespace.
            let flags = try #require(NamespaceProbe.interfaceFlags("lo", socket: socket))
            #expect(flags & Int16(IFF_UP) != 0)
            #expect(NamespaceProbe.interfaceIndex("lo", socket: socket) == 1)
            try #expect(namespace.isInterfaceUp("lo"))

            let json = try Shell.output(["ip", "-n", try #require(namespace.name), "-j", "link", "show", "lo"])
            let links = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
            let linkFlags = try #require(links.first?["flags"] as? [String])
            #expect(linkFlags.contains("UP"))
        }
    }

    @Test func aNewNamespaceHasOnlyLoopbackAndItIsDown() throws {
        let namespace = try NetworkNamespace.create(named: "sdntest-\(getpid())-fresh")
        defer { try? namespace.delete() }
        #expect(try namespace.isInterfaceUp("lo") == false)
        let socket = try namespace.openSocket(domain: AF_NETLINK, type: Int32(SOCK_RAW.rawValue), protocol: 0)
        defer { close(socket) }
        #expect(try RouteNetlinkDump.links(socket: socket) == [.init(index: 1, name: "lo", isUp: false)])
        try namespace.bringLoopbackUp()
        #expect(try RouteNetlinkDump.links(socket: socket) == [.init(index: 1, name: "lo", isUp: true)])
    }

    @Test func netlinkSocketSeesItsNamespacesLinksAndTheHostDoesNot() throws {
        let bridge = "sdnbr0"
        // Precondition: the name is free on the host, so "not visible there" means something.
        try #require(try Shell.run(["ip", "link", "show", bridge]).status != 0, "host already has \(bridge)")

        try withTemporaryNetworkNamespace { namespace in
            let name = try #require(namespace.name)
            try Shell.output(["ip", "-n", name, "link", "add", bridge, "type", "bridge"])

            let netlink = try namespace.openSocket(domain: AF_NETLINK, type: Int32(SOCK_RAW.rawValue), protocol: 0)
            defer { close(netlink) }
            let names = try RouteNetlinkDump.links(socket: netlink).map(\.name)
            #expect(names.sorted() == ["lo", bridge])

            let inside = try namespace.openSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
            defer { close(inside) }
            #expect(NamespaceProbe.interfaceIndex(bridge, socket: inside) != nil)

            let host = try NetworkNamespace.current.openSocket(domain: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
            defer { close(host) }
            #expect(NamespaceProbe.interfaceIndex(bridge, socket: host) == nil)
            try #expect(Shell.run(["ip", "link", "show", bridge]).status != 0)
        }
    }

    @Test func namedOpensAnExistingNamespace() throws {
        try withTemporaryNetworkNamespace { namespace in
            let opened = try NetworkNamespace.named(try #require(namespace.name))
            #expect(opened == namespace)
            try #expect(opened.inode() == namespace.inode())
        }
    }

    @Test func namedRejectsAMissingNamespace() throws {
        let error = try #require(throws: NetnsError.self) {
            try NetworkNamespace.named("sdntest-\(getpid())-missing")
        }
        #expect(error.errno == ENOENT)
        #expect(error.path == "/run/netns/sdntest-\(getpid())-missing")
    }

    @Test func namedRejectsAFileThatPinsNoNamespace() throws {
        let name = "sdntest-\(getpid())-plainfile"
        let path = "/run/netns/\(name)"
        try withTemporaryNetworkNamespace { _ in  // makes sure /run/netns exists
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
        }
        defer { unlink(path) }
        let error = try #require(throws: NetnsError.self) { try NetworkNamespace.named(name) }
        #expect(error.message.contains("not a network namespace"))
    }

    @Test func creatingAnExistingNameFailsAndKeepsTheExistingNamespace() throws {
        try withTemporaryNetworkNamespace { namespace in
            let name = try #require(namespace.name)
            let error = try #require(throws: NetnsError.self) { try NetworkNamespace.create(named: name) }
            #expect(error.errno == EEXIST)
            try #expect(NetworkNamespace.named(name).inode() == namespace.inode())
        }
    }
}
