import Foundation
import SDNEtcd
import SDNStore
import SDNTesting
import Testing

/// How a revision's documents and diff are kept in etcd, whose requests are limited to 1.5 MiB.
@Suite(.etcd) struct EtcdRevisionContentTests {
    /// A site of about 1 MiB in a file per guest, as the Proxmox importer writes it: its first revision's
    /// diff is as large as its documents (a whole file added is shown line by line).
    static func site(variant: Int) -> [StoredDocument] {
        let notes = (1...14).map { "# guest notes, line \($0): who runs it, what it serves, whom to call\n" }.joined()
        return [StoredDocument(path: "Topologies/t.yaml", text: "nodes:\n  pve1: {}\n")] + (100..<1_100).map { id in
            StoredDocument(path: "Policies/guests/\(id).yaml",
                           text: notes + "guests:\n  \(id):\n    rules:\n      - in accept tcp dport \(8000 + (id + variant) % 1000)\n      - in drop\n")
        }
    }

    @Test func aSiteAsLargeAsHalfTheRequestLimitIsStoredAndItsDiffsReadBackWhole() async throws {
        let store = try await EtcdStateStore.connect(endpoints: [try EtcdTestServer.shared().clientURL], prefix: "/sdn-content/\(UUID().uuidString)/")
        let first = Self.site(variant: 0)
        let size = first.reduce(0) { $0 + $1.text.utf8.count }
        #expect(size > 900_000 && size < 1_400_000, "\(size) bytes")
        // Stored with its diff (as large), this request was 2 MiB and etcd refused it.
        let one = try await store.createRevision(documents: first, author: "t", message: "first", expectedHead: .some(nil))
        #expect(try await store.revision(one.number)?.diff == UnifiedDiff.between(old: [], new: first))

        // A rewrite of every guest: a diff larger than its documents, worked out again from the parent's.
        let second = Self.site(variant: 1)
        let two = try await store.createRevision(documents: second, author: "t", message: "rewrite", expectedHead: 1)
        let expected = UnifiedDiff.between(old: first, new: second)
        #expect(expected.utf8.count > 64 << 10)
        #expect(try await store.revision(two.number)?.diff == expected)
        #expect(two.diff == expected)

        // One guest changed: a small diff, kept as it is.
        var third = second
        third[1].text = third[1].text.replacingOccurrences(of: "  100:\n    rules:\n", with: "  100:\n    rules:\n      - in accept SSH\n")
        let three = try await store.createRevision(documents: third, author: "t", message: "one guest", expectedHead: 2)
        let small = UnifiedDiff.between(old: second, new: third)
        #expect(small.contains("+      - in accept SSH") && small.utf8.count < 4096, "\(small)")
        #expect(try await store.revision(three.number)?.diff == small)
        #expect(try await store.history(limit: 10, before: nil).count == 3)
    }
}
