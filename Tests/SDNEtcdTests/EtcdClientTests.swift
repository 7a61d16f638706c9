import Foundation
import SDNEtcd
import SDNTesting
import Testing

/// The JSON-gateway client against a real etcd: the calls the store relies on, their errors, and watches.
@Suite(.etcd) struct EtcdClientTests {
    static func client() throws -> EtcdClient {
        try EtcdClient(endpoints: [try EtcdTestServer.shared().clientURL])
    }

    static func uniquePrefix() -> Data { Data("/sdn-client/\(UUID().uuidString)/".utf8) }

    @Test func binaryKeysAndValuesRoundTrip() async throws {
        let client = try Self.client()
        let prefix = Self.uniquePrefix()
        let key = prefix + Data([0x00, 0xff, 0x0a, 0x22, 0x5c])
        let value = Data((0...255).map { UInt8($0) })
        let revision = try await client.put(EtcdPutRequest(key: key, value: value))
        let stored = try #require(try await client.get(key))
        #expect(stored.key == key)
        #expect(stored.value == value)
        #expect(stored.createRevision == revision)
        #expect(stored.modRevision == revision)
        #expect(stored.version == 1)
        #expect(try await client.get(prefix + Data("missing".utf8)) == nil)
        #expect(client.newestRevisionSeen >= revision)
    }

    @Test func rangesSortLimitAndFilterByRevision() async throws {
        let client = try Self.client()
        let prefix = Self.uniquePrefix()
        var revisions: [Int64] = []
        for name in ["b", "a", "c", "d"] {
            revisions.append(try await client.put(EtcdPutRequest(key: prefix + Data(name.utf8), value: Data(name.utf8))))
        }
        let all = try await client.range(.prefix(prefix))
        #expect(all.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["a", "b", "c", "d"])
        #expect(all.count == 4)
        #expect(!all.more)

        var newestFirst = EtcdRangeRequest.prefix(prefix)
        newestFirst.sortOrder = .descend
        newestFirst.limit = 2
        let page = try await client.range(newestFirst)
        #expect(page.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["d", "c"])
        #expect(page.more)

        var recent = EtcdRangeRequest.prefix(prefix)
        recent.keysOnly = true
        recent.minCreateRevision = revisions[2]
        let filtered = try await client.range(recent)
        #expect(filtered.kvs.map { String(decoding: $0.key.suffix(1), as: UTF8.self) } == ["c", "d"])
        #expect(filtered.kvs.allSatisfy { $0.value.isEmpty })

        #expect(try await client.deleteRange(EtcdDeleteRangeRequest(key: prefix, rangeEnd: EtcdKeyRange.end(ofPrefix: prefix))) == 4)
        #expect(try await client.range(.prefix(prefix)).kvs.isEmpty)
    }

    @Test func transactionsCompareModRevisions() async throws {
        let client = try Self.client()
        let key = Self.uniquePrefix() + Data("counter".utf8)
        let create = try await client.txn(EtcdTxnRequest(compare: [.absent(key)], success: [.put(EtcdPutRequest(key: key, value: Data("1".utf8)))]))
        #expect(create.succeeded)
        let again = try await client.txn(EtcdTxnRequest(compare: [.absent(key)], success: [.put(EtcdPutRequest(key: key, value: Data("x".utf8)))],
                                                        failure: [.range(EtcdRangeRequest(key: key))]))
        #expect(!again.succeeded)
        let current = try #require(again.responses.first?.range?.kvs.first)
        #expect(current.value == Data("1".utf8))

        let stale = current.modRevision - 1
        let refused = try await client.txn(EtcdTxnRequest(compare: [.unchanged(key, since: stale)],
                                                          success: [.put(EtcdPutRequest(key: key, value: Data("x".utf8)))]))
        #expect(!refused.succeeded)
        let accepted = try await client.txn(EtcdTxnRequest(compare: [.unchanged(key, since: current.modRevision)],
                                                           success: [.put(EtcdPutRequest(key: key, value: Data("2".utf8)))]))
        #expect(accepted.succeeded)
        #expect(try await client.get(key)?.value == Data("2".utf8))
        #expect(try await client.get(key)?.version == 2)
    }

    @Test func watchesDeliverPutsAndDeletesInOrderAndResumeByRevision() async throws {
        let client = try Self.client()
        let prefix = Self.uniquePrefix()
        let first = try await client.put(EtcdPutRequest(key: prefix + Data("a".utf8), value: Data("1".utf8)))
        try await client.put(EtcdPutRequest(key: prefix + Data("b".utf8), value: Data("2".utf8)))
        try await client.deleteRange(EtcdDeleteRangeRequest(key: prefix + Data("a".utf8)))

        // From the first write's revision: etcd replays the three changes.
        var events: [EtcdEvent] = []
        for try await response in try await client.watch(.prefix(prefix, startRevision: first)) {
            events += response.events
            if events.count >= 3 { break }
        }
        #expect(events.map(\.kind) == [.put, .put, .delete])
        #expect(events.map { String(decoding: $0.keyValue.key.suffix(1), as: UTF8.self) } == ["a", "b", "a"])
        // Other tests write to the same etcd: revisions increase, not necessarily by one.
        #expect(events.first?.keyValue.modRevision == first)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.keyValue.modRevision < $1.keyValue.modRevision })

        // Resuming after the second event gives exactly the third.
        let resume = try #require(events.dropFirst().first?.keyValue.modRevision) + 1
        for try await response in try await client.watch(.prefix(prefix, startRevision: resume)) {
            guard !response.events.isEmpty else { continue }
            #expect(response.events.map(\.kind) == [.delete])
            break
        }
    }

    @Test func aWatchFromCompactedHistoryThrowsCompacted() async throws {
        // An etcd of its own: compaction would cut short other tests' watches.
        let server = try EtcdTestServer()
        defer { server.stop() }
        let client = try EtcdClient(endpoints: [server.clientURL])
        let key = Data("/sdn-client/k".utf8)
        let first = try await client.put(EtcdPutRequest(key: key, value: Data("1".utf8)))
        let second = try await client.put(EtcdPutRequest(key: key, value: Data("2".utf8)))
        try await client.compact(revision: second)
        await #expect(throws: EtcdError.compacted(endpoint: server.clientURL, compactRevision: second)) {
            for try await _ in try await client.watch(.prefix(key, startRevision: first)) {}
        }
    }

    @Test func leasesExpireTheirKeysUnlessKeptAlive() async throws {
        let client = try Self.client()
        let key = Self.uniquePrefix() + Data("alive".utf8)
        let lease = try await client.grantLease(ttl: 30)
        #expect(lease.id != 0)
        #expect(lease.ttl == 30)
        try await client.put(EtcdPutRequest(key: key, value: Data("node".utf8), lease: lease.id))
        #expect(try await client.get(key)?.lease == lease.id)
        #expect(try await client.keepAlive(lease: lease.id) == 30)
        try await client.revokeLease(lease.id)
        #expect(try await client.get(key) == nil)
        // A lease that no longer exists renews to 0.
        #expect(try await client.keepAlive(lease: lease.id) == 0)
    }

    @Test func aStoppedEtcdIsReportedAsUnreachableWithTheReason() async throws {
        let server = try EtcdTestServer()
        let url = server.clientURL
        server.stop()
        let client = try EtcdClient(endpoints: [url])
        do {
            _ = try await client.get(Data("/x".utf8))
            Issue.record("a read from a stopped etcd succeeded")
        } catch let error as EtcdError {
            guard case .unreachable(let endpoints, let reason) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(endpoints == [url])
            #expect(reason == "connection refused")
            #expect(error.description.contains("etcd is unreachable at \(url) (connection refused)"))
        }
    }

    @Test func anUnreachableMemberIsSkippedForTheNextOne() async throws {
        let server = try EtcdTestServer()
        let stopped = server.clientURL
        server.stop()
        let live = try EtcdTestServer.shared().clientURL
        let client = try EtcdClient(endpoints: [stopped, live])
        let key = Self.uniquePrefix() + Data("k".utf8)
        try await client.put(EtcdPutRequest(key: key, value: Data("v".utf8)))
        #expect(try await client.get(key)?.value == Data("v".utf8))
    }

    @Test(arguments: [
        ("https://127.0.0.1:2379", "scheme https is not supported"),
        ("127.0.0.1:2379", "write it as http://HOST:PORT"),
        ("http://127.0.0.1:2379/v3", "a path (/v3) is not part of an etcd client URL"),
    ])
    func badEndpointsAreRefusedSayingHowToWriteThem(endpoint: String, expected: String) throws {
        #expect {
            _ = try EtcdClient(endpoints: [endpoint])
        } throws: { error in
            guard let error = error as? EtcdError, case .invalidEndpoint = error else { return false }
            return error.description.contains(expected) && error.description.contains(endpoint)
        }
    }
}
