import Foundation
import GRDB
import SDNStore
import SDNTesting
import Testing

/// What only the SQLite store has: a file that outlives the process, its journal, its schema, its errors.
@Suite struct SQLiteStateStoreTests {
    @Test func reopeningTheFileGivesTheSameState() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        let document = StoredDocument(path: "Topologies/demo.yaml", text: "zones:\r\n  - name: Zürich\r\n")
        let token = APIToken(id: "ci", role: .networkAdmin, pathPrefix: "/zones", comment: "c",
                             createdAt: Date(timeIntervalSinceReferenceDate: 820_000_000.25))
        let status = NodeApplyStatus(node: "pve1", appliedRevision: 1, lastError: nil, updatedAt: Date(timeIntervalSinceReferenceDate: 820_000_001.5))
        var revisions: [Revision] = []
        var audit: AuditEntry?
        do {
            let store = try SQLiteStateStore(path: path)
            revisions.append(try await store.createRevision(documents: [document], author: "a", message: "1", expectedHead: nil))
            revisions.append(try await store.createRevision(documents: [], author: "b", message: "2", expectedHead: 1))
            try await store.setTarget(1, author: "a")
            try await store.recordNodeStatus(status)
            audit = try await store.appendAudit(AuditEntry(actor: "a", action: "apply", object: "/", outcome: "ok", revision: 1))
            try await store.addToken(token, secretHash: [1, 2, 3])
        }
        let reopened = try SQLiteStateStore(path: path)
        #expect(try await reopened.revision(1) == revisions[0])
        #expect(try await reopened.head() == revisions[1])
        #expect(try await reopened.target() == 1)
        #expect(try await reopened.nodeStatuses() == [status])
        #expect(try await reopened.audit(after: 0, limit: 10) == [audit].compactMap { $0 })
        #expect(try await reopened.token(secretHash: [1, 2, 3]) == token)
        #expect(try reopened.schemaVersion() == "v2-generations")
        #expect(try reopened.integrityCheck() == ["ok"])
    }

    @Test func journalIsWriteAheadLog() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteStateStore(path: directory.path + "/sdn.sqlite")
        #expect(try store.journalMode() == "wal")
        #expect(SQLiteStateStore.knownMigrations == ["v1-initial", "v2-generations"])
    }

    @Test func newFilesAreOwnerOnly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        let store = try SQLiteStateStore(path: path)
        _ = try await store.createRevision(documents: [], author: "a", message: "1", expectedHead: nil)
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o077 } == 0, "\(file) is readable by others")
        }
    }

    @Test func auditRowsCannotBeUpdatedOrDeleted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        let store = try SQLiteStateStore(path: path)
        let entry = try await store.appendAudit(AuditEntry(actor: "a", action: "apply", object: "/", outcome: "ok"))

        // Straight SQL, past the store's API: the triggers refuse.
        let database = try DatabaseQueue(path: path)
        let update = #expect(throws: DatabaseError.self) {
            try database.write { try $0.execute(sql: "UPDATE audit SET outcome = 'denied'") }
        }
        #expect(update?.message?.contains("append-only") == true)
        let delete = #expect(throws: DatabaseError.self) {
            try database.write { try $0.execute(sql: "DELETE FROM audit") }
        }
        #expect(delete?.message?.contains("append-only") == true)
        #expect(try await store.audit(after: 0, limit: 10) == [entry])
    }

    @Test func fileThatIsNotSQLiteIsRefusedClearly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        try String(repeating: "zones: this is a YAML file, not a database\n", count: 200).write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: StateStoreError.self) { try SQLiteStateStore(path: path) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains(path))
        #expect(message.contains("is not an SQLite database"))
        #expect(message.contains("move it aside"))
    }

    @Test func missingDirectoryIsRefusedClearly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/no-such-dir/sdn.sqlite"
        let error = #expect(throws: StateStoreError.self) { try SQLiteStateStore(path: path) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("cannot open the state database \(path)"))
        #expect(message.contains("exists and that the user running sdnd can write it"))
    }

    @Test func schemaFromANewerVersionIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        do {
            let store = try SQLiteStateStore(path: path)
            _ = try await store.createRevision(documents: [], author: "a", message: "1", expectedHead: nil)
        }
        let database = try DatabaseQueue(path: path)
        try await database.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-future-tables')") }
        try database.close()

        let error = #expect(throws: StateStoreError.self) { try SQLiteStateStore(path: path) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("\(path) was written by a newer sdnd"))
        #expect(message.contains("v9-future-tables"))
        #expect(message.contains("knows up to v2-generations"))
    }

    @Test func changesStreamEndsItsSubscriptionWhenCancelled() async throws {
        let broadcaster = StoreChangeBroadcaster()
        let stream = broadcaster.subscribe()
        #expect(broadcaster.subscriberCount == 1)
        let consumer = Task {
            var received: [StoreChange] = []
            for await change in stream { received.append(change) }
            return received
        }
        broadcaster.send(.revisionCreated(1))
        consumer.cancel()
        _ = await consumer.value
        #expect(broadcaster.subscriberCount == 0)
        broadcaster.send(.revisionCreated(2))
    }

    /// A writer killed with SIGKILL at a random moment (mid-transaction, most likely): the file is sound and
    /// holds every revision the writer reported committed. Three kills in a row on the same file.
    @Test func everyCommittedRevisionSurvivesSIGKILL() async throws {
        let torture = try KernelLab.productBinary("sdn-store-torture")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/sdn.sqlite"
        var committed: [RevisionNumber] = []
        for _ in 0..<3 {
            let killAfter = Int.random(in: 1...40)
            let child = try ChildProcess(executable: torture, arguments: ["sdn-store-torture", path, "100000"])
            var printed: [RevisionNumber] = []
            while printed.count < killAfter, let line = child.readLine() {
                printed.append(try #require(RevisionNumber(line), "sdn-store-torture printed \(line.debugDescription)"))
            }
            child.kill()
            try #require(printed.count == killAfter, "sdn-store-torture ended early: \(child.standardError())")
            committed += printed

            let store = try SQLiteStateStore(path: path)
            #expect(try store.integrityCheck() == ["ok"])
            for number in committed {
                let revision = try await store.revision(number)
                #expect(revision?.documents.count == 4, "revision \(number) lost")
            }
            let last = try #require(committed.last)
            #expect(try await store.head().map { $0.number >= last } == true)
            #expect(try await store.target().map { $0 >= last } == true)
            // Numbers without gaps, whatever the kill interrupted.
            let history = try await store.history(limit: 100_000, before: nil)
            #expect(history.map(\.number) == Array((1...RevisionNumber(history.count)).reversed()))
        }
    }
}
