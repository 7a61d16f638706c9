import Foundation
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Synchronization
import Testing

/// The monitor in a namespace of its own, driven with `ip`: what it reports, and what it must not.
@Suite("LinkEventMonitor", .systemTest(tools: ["ip"], linkKinds: ["veth", "bridge"]))
struct LinkEventMonitorTests {
    typealias Event = LinkEventMonitor.Event

    static func ip(_ arguments: String..., in namespace: NetworkNamespace) throws {
        try Shell.output(["ip"] + arguments, in: namespace)
    }

    static func index(of name: String, in namespace: NetworkNamespace) throws -> Int32 {
        let line = try Shell.output(["ip", "-o", "link", "show", "dev", name], in: namespace)
        return try #require(Int32(line.prefix { $0 != ":" }), "ip -o link show: \(line)")
    }

    @Test func aLinkIsAddedChangedAddressedAndRemovedInThatOrder() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try LinkEventMonitor(namespace: namespace)
            let events = monitor.events()
            try Self.ip("link", "add", "sdnv0", "type", "veth", "peer", "name", "sdnv1", in: namespace)
            let index = try Self.index(of: "sdnv0", in: namespace)
            try Self.ip("link", "set", "sdnv0", "up", in: namespace)
            try Self.ip("address", "add", "192.0.2.1/24", "dev", "sdnv0", in: namespace)
            try Self.ip("link", "del", "sdnv0", in: namespace)
            let seen = await events.collect(until: { $0.kind == .removed && $0.name == "sdnv0" }, by: monitor.stop)
            let ours = seen.filter { $0.index == index }

            let added = ours.firstIndex { $0.kind == .added && $0.name == "sdnv0" }
            let up = ours.firstIndex { $0.kind == .changed && $0.name == "sdnv0" && $0.isUp == true }
            let address = ours.firstIndex { $0.kind == .addressAdded && $0.address == (try? IPPrefix("192.0.2.1/24")) }
            let removed = ours.firstIndex { $0.kind == .removed && $0.name == "sdnv0" }
            #expect(added != nil && up != nil && address != nil && removed != nil, "events: \(seen)")
            if let added, let up, let address, let removed {
                #expect(added < up && up < address && address < removed, "events: \(seen)")
            }
            #expect(ours.first?.isUp == false, "a new link is down: \(seen)")
            #expect(!seen.contains(.overrun))
        }
    }

    @Test func aPortReportsItsMaster() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try LinkEventMonitor(namespace: namespace)
            let events = monitor.events()
            try Self.ip("link", "add", "sdnbr0", "type", "bridge", in: namespace)
            try Self.ip("link", "add", "sdnv0", "type", "veth", "peer", "name", "sdnv1", in: namespace)
            try Self.ip("link", "set", "sdnv0", "master", "sdnbr0", in: namespace)
            let bridge = try Self.index(of: "sdnbr0", in: namespace)
            let seen = await events.collect(until: { $0.name == "sdnv0" && $0.masterIndex != nil }, by: monitor.stop)
            #expect(seen.last?.masterIndex == bridge, "events: \(seen)")
        }
    }

    @Test func linksOfAnotherNamespaceAreNotReported() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try await withTemporaryNetworkNamespace { other in
                let monitor = try LinkEventMonitor(namespace: namespace)
                let events = monitor.events()
                try Self.ip("link", "add", "stranger0", "type", "veth", "peer", "name", "stranger1", in: other)
                try Self.ip("link", "set", "stranger0", "up", in: other)
                try Self.ip("link", "del", "stranger0", in: other)
                // Notifications of one namespace arrive in order: once the marker made after the stranger's
                // events is seen, none of those can still be on the way.
                try Self.ip("link", "add", "marker0", "type", "veth", "peer", "name", "marker1", in: namespace)
                let seen = await events.collect(until: { $0.name == "marker0" }, by: monitor.stop)
                #expect(seen.contains { $0.name == "marker0" && $0.kind == .added }, "events: \(seen)")
                #expect(!seen.contains { $0.name.hasPrefix("stranger") }, "events: \(seen)")
            }
        }
    }

    @Test func whatHappensBeforeTheFirstStreamIsKept() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try LinkEventMonitor(namespace: namespace)
            try Self.ip("link", "add", "early0", "type", "veth", "peer", "name", "early1", in: namespace)
            let seen = await monitor.events().collect(until: { $0.name == "early0" }, by: monitor.stop)
            #expect(seen.contains { $0.name == "early0" && $0.kind == .added }, "events: \(seen)")
        }
    }

    @Test func everyStreamGetsEveryEvent() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            let monitor = try LinkEventMonitor(namespace: namespace)
            let streams = [monitor.events(), monitor.events()]
            try Self.ip("link", "add", "both0", "type", "veth", "peer", "name", "both1", in: namespace)
            for stream in streams {
                let seen = await stream.collect(until: { $0.name == "both0" }, by: monitor.stop)
                #expect(seen.contains { $0.name == "both0" && $0.kind == .added }, "events: \(seen)")
            }
        }
    }

    @Test func releasingTheMonitorEndsItsStreams() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            var monitor: LinkEventMonitor? = try LinkEventMonitor(namespace: namespace)
            let events = try #require(monitor).events()
            let ended = Mutex(false)
            let reader = Task {
                for await _ in events {}
                ended.withLock { $0 = true }
            }
            monitor = nil
            // A stream that outlived its monitor would hang the reader: watch it for a bounded time instead
            // of awaiting it.
            var finished = false
            for _ in 0..<100 where !finished {
                try await Task.sleep(for: .milliseconds(100))
                finished = ended.withLock { $0 }
            }
            #expect(finished, "the stream did not end within 10 s of releasing its monitor")
            reader.cancel()
        }
    }

    @Test func droppedNotificationsAreReportedAsAnOverrun() async throws {
        try await withTemporaryNetworkNamespace { namespace in
            // A small receive buffer, so that a few hundred links overflow it (thousands of links would hold
            // the kernel's RTNL lock, which every namespace shares, long enough to stall other tests).
            let monitor = try LinkEventMonitor(namespace: namespace, receiveBufferBytes: 16 << 10)
            // Nothing reads until the first stream: enough links overflow the socket's receive buffer.
            let commands = (0..<300).map { "link add sdnb\($0) type bridge" }.joined(separator: "\n") + "\n"
            let script = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-overrun-\(getpid()).ip")
            try commands.write(to: script, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: script) }
            try Self.ip("-batch", script.path, in: namespace)
            let beforeReading = await monitor.events().collect(until: { $0 == .overrun }, by: monitor.stop)
            #expect(beforeReading.contains(.overrun), "\(beforeReading.count) events, none an overrun")
            // The subscription goes on after an overrun (in a new stream: `collect` ended the first), and what
            // was queued before it is not delivered after it: the consumer is about to observe anyway.
            let events = monitor.events()
            try Self.ip("link", "add", "after0", "type", "veth", "peer", "name", "after1", in: namespace)
            let afterwards = await events.collect(until: { $0.name == "after0" }, by: monitor.stop)
            #expect(afterwards.contains { $0.name == "after0" && $0.kind == .added }, "\(afterwards.count) events after the overrun")
            #expect(!afterwards.contains { $0.name.hasPrefix("sdnb") }, "\(afterwards.count) events after the overrun")
        }
    }
}
