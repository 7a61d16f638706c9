import Foundation
import SDNStore

// Usage: sdn-store-torture <database> <count>
// Writes `count` revisions (each also appends an audit entry and moves the target), printing each committed
// revision number on its own line as soon as the write returned, so that a test can kill it at any moment
// and check that everything it printed survived.

let arguments = CommandLine.arguments
guard arguments.count == 3, let count = Int(arguments[2]), count > 0 else {
    FileHandle.standardError.write(Data("usage: sdn-store-torture <database> <count>\n".utf8))
    exit(2)
}
do {
    let store = try SQLiteStateStore(path: arguments[1])
    var head = try await store.head()?.number
    for index in 0..<count {
        // Documents big enough that a commit spans several pages.
        let documents = (0..<4).map { part in
            StoredDocument(path: "Topologies/part\(part).yaml",
                           text: (0..<200).map { "line \($0) of write \(index) part \(part)\n" }.joined())
        }
        let revision = try await store.createRevision(documents: documents, author: "torture", message: "write \(index)",
                                                      expectedHead: .some(head))
        head = revision.number
        try await store.appendAudit(AuditEntry(actor: "torture", action: "write", object: "/", outcome: "ok", revision: revision.number))
        try await store.setTarget(revision.number, author: "torture")
        // Straight to the file descriptor: nothing buffered that a kill would lose.
        FileHandle.standardOutput.write(Data("\(revision.number)\n".utf8))
    }
} catch {
    FileHandle.standardError.write(Data("sdn-store-torture: \(error)\n".utf8))
    exit(1)
}
