import Foundation
import SDNEtcd
import SDNStore
import SDNTesting
import Testing

/// Every check of the store contract against `EtcdStateStore` on a real etcd: one etcd for the process,
/// each store the check makes under a key prefix of its own (so, empty).
@Suite(.etcd) struct EtcdStateStoreContractTests {
    @Test(arguments: StateStoreContract.checks)
    func etcd(_ check: StateStoreContractCheck) async throws {
        let server = try EtcdTestServer.shared()
        try await check.run {
            try await EtcdStateStore.connect(endpoints: [server.clientURL], prefix: "/sdn-contract/\(UUID().uuidString)/")
        }
    }
}
