import Foundation
import SDNEtcd
import SDNStore
import SDNTesting
import Testing

/// How long a revision takes to commit through etcd on loopback: printed, not asserted (no timing
/// thresholds in tests); what is asserted is that every write landed.
@Suite(.etcd) struct EtcdStateStoreLatencyTests {
    @Test func createRevisionLatencyOverTwoHundredWrites() async throws {
        let server = try EtcdTestServer()
        defer { server.stop() }
        let store = try await EtcdStateStore.connect(endpoints: [server.clientURL], prefix: "/sdn/")
        // A topology of about 4 KiB with one line changed per revision, as an edit through the API makes.
        let guests = (100..<200).map { "  - id: \($0)\n    node: pve\($0 % 3 + 1)\n" }.joined()
        var durations: [Duration] = []
        let clock = ContinuousClock()
        for index in 1...200 {
            let document = StoredDocument(path: "Topologies/site.yaml", text: "generation: \(index)\nguests:\n" + guests)
            let head = try await store.headNumber()
            let started = clock.now
            _ = try await store.createRevision(documents: [document], author: "bench", message: "\(index)", expectedHead: .some(head))
            durations.append(clock.now - started)
        }
        #expect(try await store.headNumber() == 200)
        let sorted = durations.sorted()
        func milliseconds(_ duration: Duration) -> String {
            String(format: "%.2f", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)
        }
        print("etcd createRevision over 200 writes (\(guests.utf8.count + 30) B document, loopback, etcd \(server.clientURL)): "
              + "p50 \(milliseconds(sorted[99])) ms, p99 \(milliseconds(sorted[197])) ms, max \(milliseconds(sorted[199])) ms")
    }
}
