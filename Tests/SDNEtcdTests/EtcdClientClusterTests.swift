import Foundation
import SDNEtcd
import SDNTesting
import Testing

/// The client against a three-member etcd whose members fail: what a cluster of sdnd nodes lives with.
@Suite(.etcd) struct EtcdClientClusterTests {
    @Test func readsAndWritesGoOnWhenTheLeaderIsKilled() async throws {
        let cluster = try EtcdTestCluster()
        defer { cluster.stop() }
        // An election takes about a second (etcd's default election timeout); in the full run, beside
        // booting VMs, it took more than the default 10 s request timeout. What is asserted is that the reads
        // go on through the election, not how long it takes.
        let client = try EtcdClient(endpoints: cluster.endpoints, requestTimeout: .seconds(45))
        let key = Data("/sdn-cluster-client/\(UUID().uuidString)".utf8)
        try await client.put(EtcdPutRequest(key: key, value: Data("1".utf8)))
        let leader = try #require(cluster.leader, "no member leads: \(cluster.logTails())")
        cluster.kill(member: leader)
        // Right after: the survivors refuse reads with `leader changed` until they elected a new leader.
        #expect(try await client.get(key)?.value == Data("1".utf8))
        // A write is never sent twice by the client (it may have been applied): one that meets the election
        // (`leader changed`, on a loaded machine) fails saying why, and the next one goes through.
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                try await client.put(EtcdPutRequest(key: key, value: Data("2".utf8)))
                break
            } catch let error as EtcdError {
                #expect(error.description.contains("quorum"), "a write refused during the election says why: \(error)")
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(try await client.get(key)?.value == Data("2".utf8))
    }

    @Test func withoutAQuorumAWriteFailsSayingSo() async throws {
        let cluster = try EtcdTestCluster()
        defer { cluster.stop() }
        let client = try EtcdClient(endpoints: cluster.endpoints)
        cluster.kill(member: 0)
        cluster.kill(member: 1)
        do {
            try await client.put(EtcdPutRequest(key: Data("/sdn-cluster-client/q".utf8), value: Data("x".utf8)))
            Issue.record("a write without a quorum succeeded")
        } catch let error as EtcdError {
            print("without a quorum: \(error)")
            #expect(error.description.contains("quorum"), "\(error)")
        }
    }
}
