import ArgumentParser
import Foundation

/// `sdn pull`: a revision's files back from sdnd, byte for byte as they were pushed.
struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Write a revision's configuration files (default: the head) from sdnd into a directory.",
        discussion: """
            Each file goes to its pushed path below --into (default: the current directory), replacing what is there; \
            files the revision does not have are left alone. A path that would leave the directory (absolute, or with ..) \
            is refused before anything is written.
            """
    )

    @Option(help: ArgumentHelp("The revision to pull (default: the head).", valueName: "n"))
    var revision: Int64?

    @Option(name: .customLong("into"), help: ArgumentHelp("The directory to write into.", valueName: "dir"), completion: .directory)
    var directory: String = "."

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", APIPath.query("/v1/config", [("revision", revision.map(String.init))]))
        let snapshot = try session.decode(ConfigSnapshot.self, from: response)
        do {
            try Self.write(snapshot.documents, into: directory)
        } catch let error as PullError {
            printError("sdn: refusing to pull revision \(snapshot.revision): \(error.description)")
            throw ExitCode.failed
        }
        if session.output == .json { return session.printJSON(response) }
        print("pulled revision \(snapshot.revision) into \(directory): \(snapshot.documents.count) file\(snapshot.documents.count == 1 ? "" : "s")")
        for document in snapshot.documents { print("  \(document.path)") }
    }

    struct PullError: Error, CustomStringConvertible {
        var description: String
    }

    /// Checks every path, then writes every file (each atomically, its directories made as needed).
    static func write(_ documents: [RemoteDocument], into directory: String) throws {
        for document in documents {
            if let problem = escapeProblem(document.path, directory: directory) {
                throw PullError(description: "the document '\(document.path)' \(problem); nothing was written")
            }
        }
        let root = URL(fileURLWithPath: directory, isDirectory: true)
        for document in documents {
            let file = root.appendingPathComponent(document.path)
            do {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(document.text.utf8).write(to: file, options: .atomic)
            } catch {
                throw PullError(description: "cannot write \(file.path): \(error.localizedDescription)")
            }
        }
    }

    /// Why writing `path` below the directory would put it somewhere else (or nowhere); nil if it stays inside.
    static func escapeProblem(_ path: String, directory: String) -> String? {
        if path.isEmpty { return "has an empty path, which names no file" }
        if path.contains("\0") { return "has a NUL byte in its path" }
        if path.hasPrefix("/") { return "has an absolute path: it would be written outside \(directory)" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if parts.contains("..") { return "has '..' in its path: it would be written outside \(directory)" }
        if parts.allSatisfy({ $0 == "." }) { return "names the directory itself, not a file" }
        return nil
    }
}
