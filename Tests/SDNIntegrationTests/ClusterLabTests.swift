import Foundation
import Synchronization
import SDNEtcd
import SDNTesting
import Testing

/// Three nodes (namespaces) of one cluster, each with its own sdnd on one etcd prefix of a three-member
/// etcd (ClusterLab), driven with the real `sdn` through one node's socket and checked with ping and nc
/// from the containers: a change made anywhere reaches every node, and failures of sdnd, etcd members and
/// the underlay neither stop the firewall nor keep the cluster from converging once they are over.
@Suite(.serialized, .etcd, .systemTest(tools: ["ip", "nft", "nc", "ping", "ss", "curl"], linkKinds: ["bridge", "vxlan", "veth"]))
struct ClusterLabTests {
    static let allPairs = ClusterLab.guests.flatMap { from in ClusterLab.guests.filter { $0.id != from.id }.map { (from.id, $0.id) } }

    /// One lab per test, removed even when the test fails.
    func withLab(_ body: (ClusterLab) throws -> Void) throws {
        let lab = try ClusterLab()
        defer { lab.stop() }
        try body(lab)
    }

    /// The first revision (topology and base policy) applied through n1 and converged everywhere.
    func converge(_ lab: ClusterLab) throws {
        try lab.waitUntilAllApplied(try lab.pushAndApply(through: 1, message: "initial"))
    }

    /// The base policy holds: 102 may reach 101's port 80, 103 may not.
    func expectBasePolicy(_ lab: ClusterLab, _ context: String) throws {
        #expect(try lab.connects(102, 101, port: 80), "\(context): 102 → 101 tcp/80 is allowed")
        #expect(try !lab.connects(103, 101, port: 80), "\(context): 103 → 101 tcp/80 is dropped")
    }

    func changePolicy(_ lab: ClusterLab, through node: Int, allowing port: Int) throws -> Int64 {
        try lab.writePolicy(ClusterLab.policy(extraRules: ["in accept tcp dport \(port)"]))
        return try lab.pushAndApply(through: node, message: "allow tcp/\(port)")
    }

    @Test func aChangeAppliedThroughOneNodeConvergesOnAllThreeAndIsEnforcedThere() throws {
        try withLab { lab in
            try converge(lab)
            for (from, to) in Self.allPairs { #expect(try lab.pings(from, to), "ping \(from) → \(to)") }
            try expectBasePolicy(lab, "after the first apply")

            // Convergence time: from `sdn apply` returning on n1 until all three report the revision (read
            // with curl: `sdn status` on three nodes takes longer than the convergence itself).
            var samples: [Duration] = []
            var pushAndApply: [Duration] = []
            var last: Int64 = 0
            for round in 1...20 {
                let started = ContinuousClock.now
                last = try changePolicy(lab, through: 1, allowing: 9000 + round)
                pushAndApply.append(ContinuousClock.now - started)
                samples.append(try lab.waitUntilAllApplied(last, reader: .curl))
            }
            samples.sort()
            pushAndApply.sort()
            // The resolution of the figures: one round of reading the three statuses.
            let pollStart = ContinuousClock.now
            for node in ClusterLab.nodes { _ = try lab.status(node, reader: .curl) }
            let poll = ContinuousClock.now - pollStart
            let milliseconds = { (duration: Duration) in
                String(format: "%.0f ms", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
            }
            print("cluster convergence after sdn apply on n1, \(samples.count) rule changes: p50 \(milliseconds(samples[samples.count / 2])), "
                  + "p99 \(milliseconds(samples[min(samples.count - 1, samples.count * 99 / 100)])), max \(milliseconds(samples.last!)) "
                  + "(polling GET /v1/status on each node's socket, one round of the three: \(milliseconds(poll))); "
                  + "sdn push + sdn apply on n1 before it: p50 \(milliseconds(pushAndApply[pushAndApply.count / 2])), max \(milliseconds(pushAndApply.last!))")
            // The last change, made through n1, is enforced by n3 for its own guest.
            #expect(try lab.connects(101, 103, port: 9020), "the rule of revision \(last) is enforced on n3")
            #expect(try !lab.connects(101, 103, port: 9019), "the rule it replaced is gone from n3")
        }
    }

    /// Issue 12's figure: a rule change through the API (the alias a rule of 101 uses, edited by id, then
    /// applied) until every node's applied record holds its generation, read from the cluster report the
    /// way `sdn apply --wait` reads it; 100 changes, through each node in turn.
    @Test func convergenceOfAHundredChangesMadeThroughTheAPI() throws {
        try withLab { lab in
            try converge(lab)
            var samples: [Duration] = []
            for round in 0..<100 {
                let node = ClusterLab.nodes[round % 3]
                let address = round % 2 == 0 ? "10.50.0.200" : ClusterLab.guest(102).address
                let started = ContinuousClock.now
                let put = try lab.send(node, "PUT", "/v1/objects/aliases/client", json: "{\"object\": \"\(address)\"}", headers: ["If-Match: *"])
                try #require((200..<300).contains(put.status), "PUT alias through n\(node): \(put)")
                let apply = try lab.send(node, "POST", "/v1/apply", json: "{}")
                let generation = try #require(apply.json["generation"] as? Int, "POST /v1/apply through n\(node): \(apply)")
                var converged = false
                while !converged, ContinuousClock.now - started < .seconds(30) {
                    let nodes = try lab.get(node, "/v1/cluster")["nodes"] as? [[String: Any]] ?? []
                    converged = nodes.count == 3 && nodes.allSatisfy { ($0["appliedGeneration"] as? Int ?? 0) >= generation }
                    if !converged { usleep(2_000) }
                }
                try #require(converged, "generation \(generation) did not converge within 30 s")
                samples.append(ContinuousClock.now - started)
            }
            samples.sort()
            let milliseconds = { (duration: Duration) in
                String(format: "%.0f ms", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
            }
            print("cluster convergence, \(samples.count) rule changes through the API (PUT alias + POST apply → all 3 applied): "
                  + "p50 \(milliseconds(samples[samples.count / 2])), p90 \(milliseconds(samples[samples.count * 9 / 10])), "
                  + "p99 \(milliseconds(samples[samples.count * 99 / 100])), max \(milliseconds(samples.last!))")
            // The last value holds on n1 (101's rule): 102 reaches 101's port 80 again after an odd count.
            #expect(try lab.connects(102, 101, port: 80), "the alias's last value is enforced")
        }
    }

    @Test func aKilledDaemonMissesNothingAndCatchesUpWhenRestarted() throws {
        try withLab { lab in
            try converge(lab)
            lab.killDaemon(3)
            // `apply --wait` waits for n3 until its lease expires, then names it and returns.
            try lab.writePolicy(ClusterLab.policy(extraRules: ["in accept tcp dport 8080"]))
            let revision = try lab.push(through: 2, message: "allow tcp/8080")
            let started = ContinuousClock.now
            let waited = try lab.applyWaiting(through: 2)
            #expect(waited.stderr.contains("node n3 is dead"), "\(waited)")
            #expect(ContinuousClock.now - started < .seconds(30), "apply --wait hung on a dead node")
            let report = try lab.get(1, "/v1/cluster")
            let n3 = (report["nodes"] as? [[String: Any]])?.first { $0["name"] as? String == "n3" }
            #expect(n3?["state"] as? String == "dead" && n3?["live"] as? Bool == false, "\(report)")
            try lab.waitUntilAllApplied(revision, nodes: [1, 2])
            #expect(try lab.connects(102, 101, port: 8080), "n1 enforces the change made through n2")
            #expect(try lab.connects(101, 102, port: 8080), "n2 enforces it")
            #expect(try !lab.connects(101, 103, port: 8080), "n3's kernel keeps the old ruleset while its sdnd is dead")
            try expectBasePolicy(lab, "with n3's sdnd dead")

            try lab.startDaemon(3)
            try lab.waitUntilAllApplied(revision, nodes: [3])
            #expect(try lab.status(3).applied == revision)
            #expect(try lab.connects(101, 103, port: 8080), "n3 enforces the change after its restart")
            let live = (try lab.get(1, "/v1/cluster")["nodes"] as? [[String: Any]])?.first { $0["name"] as? String == "n3" }
            #expect(live?["live"] as? Bool == true && live?["state"] as? String == "applied", "\(String(describing: live))")

            // Killed and restarted with nothing changed meanwhile: it adopts its kernel, writing nothing.
            lab.killDaemon(3)
            let logged = (try? String(contentsOfFile: lab.logPath(3), encoding: .utf8))?.count ?? 0
            try lab.startDaemon(3)
            try lab.waitUntilAllApplied(revision, nodes: [3])
            let restartLog = String(((try? String(contentsOfFile: lab.logPath(3), encoding: .utf8)) ?? "").dropFirst(logged))
            #expect(restartLog.contains("adopted the kernel as it is"), "a restart over a converged kernel wrote to it:\n\(restartLog.suffix(2000))")
        }
    }

    @Test func oneEtcdMemberDownChangesNothingAndTwoStopWritesButNotTheFirewall() throws {
        try withLab { lab in
            try converge(lab)
            // The leader: the members elect another while the change is made.
            let leader = try #require(lab.etcd.leader, "no etcd member leads: \(lab.etcd.logTails())")
            lab.etcd.kill(member: leader)
            let withOneDown = try changePolicy(lab, through: 1, allowing: 8080)
            try lab.waitUntilAllApplied(withOneDown)
            #expect(try lab.connects(101, 103, port: 8080), "a change made with one member down reaches n3")

            let second = (leader + 1) % lab.etcd.memberCount
            lab.etcd.kill(member: second)
            try lab.writePolicy(ClusterLab.policy(extraRules: ["in accept tcp dport 8081"]))
            let started = ContinuousClock.now
            // Shell.run's timeout bounds it: a hang fails the test with ShellError.timedOut.
            let refused = try lab.sdn(2, ["push", "Topologies", "Policies", "-m", "without a quorum"], timeout: .seconds(90))
            let elapsed = ContinuousClock.now - started
            print("push without an etcd quorum: exit \(refused.status) after \(elapsed): \(refused.stdout)\(refused.stderr)")
            #expect(refused.status != 0, "a push without a quorum must fail")
            let message = (refused.stdout + refused.stderr).lowercased()
            #expect(message.contains("etcd") && message.contains("quorum"), "the error names etcd and its quorum: \(message)")

            // Past one resync of every node (5 s): the loops ran against the store that cannot answer.
            Thread.sleep(forTimeInterval: 6)
            for (from, to) in [(101, 102), (102, 103), (103, 101)] { #expect(try lab.pings(from, to), "ping \(from) → \(to) without a quorum") }
            try expectBasePolicy(lab, "without a quorum")
            #expect(try lab.connects(102, 103, port: 8080), "the last applied revision stays enforced")
            #expect(try !lab.connects(102, 103, port: 8081), "the refused change is not")

            try lab.etcd.start(members: [leader, second])
            let afterRestart = try changePolicy(lab, through: 3, allowing: 8082)
            try lab.waitUntilAllApplied(afterRestart)
            #expect(try lab.connects(103, 101, port: 8082), "n1 enforces the change made through n3 after etcd's return")
            #expect(try lab.connects(101, 103, port: 8082), "n3 enforces it")
        }
    }

    @Test func aNodeRestartedAfterEtcdCompactedItsMissedHistoryConverges() async throws {
        let lab = try ClusterLab()
        defer { lab.stop() }
        try converge(lab)
        lab.killDaemon(3)
        var revision: Int64 = 0
        for port in 8081...8083 {
            revision = try changePolicy(lab, through: 1, allowing: port)
        }
        try lab.waitUntilAllApplied(revision, nodes: [1, 2])
        let client = try EtcdClient(endpoints: lab.etcd.endpoints)
        let current = try await client.range(EtcdRangeRequest(key: Data(lab.etcdPrefix.utf8))).header.revision
        try await client.compact(revision: current)

        try lab.startDaemon(3)
        try lab.waitUntilAllApplied(revision, nodes: [3])
        #expect(try lab.connects(101, 103, port: 8083), "n3 enforces the newest revision")
        #expect(try !lab.connects(101, 103, port: 8081), "and not the ones before it")
        // The live nodes' watches go on past the compaction.
        let next = try changePolicy(lab, through: 2, allowing: 8084)
        try lab.waitUntilAllApplied(next)
    }

    @Test func aNodeCutOffTheUnderlayKeepsItsFirewallAndConvergesAfterHealing() throws {
        try withLab { lab in
            try converge(lab)
            try lab.setUnderlay(3, up: false)
            #expect(try !lab.pings(101, 103), "the partition is real: n1's guest cannot reach n3's")
            #expect(try lab.pings(104, 103), "n3's guests reach each other on n3's bridge")
            #expect(try !lab.connects(104, 103, port: 80), "n3's firewall still drops tcp/80 to 103, locally")
            #expect(try lab.ruleset(3).contains("chain guest-103-net0-in"), "n3's ruleset still holds 103's chains")

            // The partition is of the data plane only: sdnd reaches etcd over the host's loopback.
            let during = try changePolicy(lab, through: 1, allowing: 8080)
            try lab.waitUntilAllApplied(during)
            #expect(try lab.connects(104, 103, port: 8080), "n3 applies a change made during the partition")

            try lab.setUnderlay(3, up: true)
            #expect(try lab.pings(101, 103), "the overlay works again after healing")
            let after = try changePolicy(lab, through: 3, allowing: 8081)
            try lab.waitUntilAllApplied(after)
            #expect(try lab.connects(103, 101, port: 8081), "a change through n3 after healing is enforced on n1")
        }
    }

    @Test func aContainerMovedToAnotherNodeKeepsItsFirewallUntilItLeftAndHasItWhereItArrives() throws {
        try withLab { lab in
            try converge(lab)
            // 104 moves from n3 to n1: declared there first, while it still runs on n3.
            let moved = ClusterLab.topology(moving: 104, to: 1)
            try #require(moved != ClusterLab.topology)
            try lab.writeTopology(moved)
            try lab.pushAndApply(through: 2, message: "104 to n1")
            #expect(try lab.ruleset(3).contains("chain guest-104-net0-in"), "n3 dropped 104's firewall while 104 still runs there")
            #expect(try lab.pings(104, 103), "104 still reaches 103 on n3")
            #expect(try !lab.connects(104, 103, port: 80), "and n3 still filters it")
            #expect(try lab.ruleset(1).contains("chain guest-104-net0-in"), "n1 holds 104's chains before it arrives")

            // The container stops on n3 and starts on n1.
            try lab.moveContainer(104, from: 3, to: 1)
            let deadline = ContinuousClock.now + .seconds(30)
            while try lab.ruleset(3).contains("chain guest-104-net0-in"), ContinuousClock.now < deadline { usleep(100_000) }
            #expect(try !lab.ruleset(3).contains("chain guest-104-net0-in"), "104's firewall stayed on the node it left")
            #expect(try lab.pings(104, 101), "104 reaches 101, now beside it on n1")
            #expect(try lab.pings(104, 103), "and 103 across the overlay")
            #expect(try !lab.connects(104, 101, port: 80), "n1 filters 104 (only the client may reach 101's port 80)")
            #expect(try lab.connects(102, 101, port: 80), "the client still may")
            let nodes = try lab.get(1, "/v1/cluster")["nodes"] as? [[String: Any]] ?? []
            let ports = Dictionary(uniqueKeysWithValues: nodes.compactMap { node in (node["name"] as? String).map { ($0, node["ports"] as? Int ?? -1) } })
            #expect(ports == ["n1": 2, "n2": 1, "n3": 1], "installed ports per node: \(ports)")
        }
    }

    @Test func twoWritersWithTheSameETagThroughDifferentNodes() throws {
        try withLab { lab in
            try converge(lab)
            let read = try lab.sdn(1, ["object", "get", "aliases", "client"])
            try #require(read.status == 0, "\(read.stdout)\(read.stderr)")
            try #require(read.stdout.contains(ClusterLab.guest(102).address), "\(read.stdout)")
            // Both writers edit what they read (the ETag is in the file): one to 103, one to 104.
            let files = try [1: 103, 2: 104].mapValues { guest in
                let path = "\(lab.directory)/alias-\(guest).json"
                try read.stdout.replacingOccurrences(of: ClusterLab.guest(102).address, with: ClusterLab.guest(guest).address)
                    .write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            let outcomes = Mutex<[Int: (status: Int32, stdout: String, stderr: String)]>([:])
            let errors = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let node = index + 1
                do {
                    let result = try lab.sdn(node, ["object", "put", "aliases", "client", "--file", files[node]!])
                    outcomes.withLock { $0[node] = result }
                } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
            #expect(errors.withLock { $0 }.isEmpty)
            let results = outcomes.withLock { $0 }
            let succeeded = results.filter { $0.value.status == 0 }
            let refused = results.filter { $0.value.status != 0 }
            #expect(succeeded.count == 1 && refused.count == 1, "\(results)")
            for (node, result) in refused {
                #expect(result.stderr.contains("412"), "n\(node) is refused with 412: \(result.stderr)")
            }
            // Every node sees the winner's value.
            let winner = try #require(succeeded.keys.first)
            let expected = ClusterLab.guest(winner == 1 ? 103 : 104).address
            for node in ClusterLab.nodes {
                #expect(try lab.sdn(node, ["object", "get", "aliases", "client"]).stdout.contains(expected), "n\(node) reads the winner's alias")
            }
        }
    }
}
