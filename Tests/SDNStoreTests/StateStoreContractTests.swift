import SDNStore
import SDNTesting
import Synchronization
import Testing

/// Every check of the store contract, against SQLite (a file in a fresh temporary directory) and the
/// in-memory store.
@Suite struct StateStoreContractTests {
    @Test(arguments: StateStoreContract.checks)
    func sqlite(_ check: StateStoreContractCheck) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Each store the check makes gets a file of its own.
        let made = Mutex(0)
        try await check.run {
            let number = made.withLock { count in
                count += 1
                return count
            }
            return try SQLiteStateStore(path: directory.path + "/sdn-\(number).sqlite")
        }
    }

    @Test(arguments: StateStoreContract.checks)
    func inMemory(_ check: StateStoreContractCheck) async throws {
        try await check.run { InMemoryStateStore() }
    }
}
