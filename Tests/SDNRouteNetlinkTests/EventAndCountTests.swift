import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Synchronization
import Testing

@Suite("NetlinkLinks events and write count", .systemTest(tools: ["ip"]))
struct EventAndCountTests {
    @Test func linkEventsReportAnAddedLink() async throws {
        try await LinkLab.run { lab in
            let events = lab.links.linkEvents()
            try await lab.perform(.createLink(LinkSpec(name: "vnet7", kind: .bridge(BridgeLinkSettings()))), .setUp(name: "vnet7", up: true))
            try lab.shell("ip", "link", "del", "vnet7")
            var seen: [LinkEvent] = []
            for try await event in events {
                seen.append(event)
                if case .removed(name: "vnet7", _) = event { break }
            }
            let added = seen.firstIndex { if case .added(name: "vnet7", _) = $0 { true } else { false } }
            let changed = seen.firstIndex { if case .changed(name: "vnet7", _) = $0 { true } else { false } }
            #expect(added != nil, "events: \(seen)")
            #expect(changed != nil, "events: \(seen)")
            if let added, let changed { #expect(added < changed) }
        }
    }

    @Test func linkEventsKeepUpWithABurst() async throws {
        try await LinkLab.run { lab in
            let events = lab.links.linkEvents()
            let count = 300
            for number in 0..<count {
                try await lab.perform(.createLink(LinkSpec(name: "br\(number)", kind: .bridge(BridgeLinkSettings()))))
            }
            var added = Set<String>()
            for try await event in events {
                if case .added(let name, _) = event { added.insert(name) }
                if added.count == count { break }
            }
            #expect(added.count == count)
        }
    }

    @Test func cancellingTheStreamEndsIt() async throws {
        try await LinkLab.run { lab in
            let events = lab.links.linkEvents()
            let reader = Task {
                var count = 0
                for try await _ in events { count += 1 }
                return count
            }
            try await lab.perform(.createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))))
            reader.cancel()
            // The reader must end by itself, within a bound: a stream that ignores cancellation would hang
            // here, so it is watched from a separate task that the test does not wait for.
            let finished = Mutex<Bool>(false)
            Task { _ = try? await reader.value; finished.withLock { $0 = true } }
            var ended = false
            for _ in 0..<100 where !ended {
                try await Task.sleep(for: .milliseconds(100))
                ended = finished.withLock { $0 }
            }
            #expect(ended, "the event stream did not end within 10 s of cancelling its reader")
            if ended {
                let seen = try? await reader.value
                // Cancelled streams may end by throwing CancellationError or by finishing; either way no more
                // than the one event sent before the cancel was delivered.
                #expect((seen ?? 0) <= 1)
            }
        }
    }

    @Test func writeCountCountsWritesAndObserveAddsNone() async throws {
        try await LinkLab.run { lab in
            #expect(lab.links.writeCount == 0)
            _ = try await lab.links.observe()
            #expect(lab.links.writeCount == 0)
            try await lab.perform(
                .createLink(LinkSpec(name: "vnet1", kind: .bridge(BridgeLinkSettings()))),  // 1
                .createLink(LinkSpec(name: "vx", kind: .vxlan(VXLANLinkSettings(vni: 1)), alias: "sdn:vx")),  // 2: create + alias
                .setMaster(name: "vx", master: "vnet1"),  // 1
                .setUp(name: "vx", up: true),  // 1
                .addFDB(FDBEntrySpec(interface: "vx", mac: FDBEntrySpec.floodMAC, kind: .vxlanRemote, destination: address("192.0.2.9")))  // 1
            )
            #expect(lab.links.writeCount == 6)
            _ = try await lab.links.observe()
            #expect(lab.links.writeCount == 6)
        }
    }
}
