import ArgumentParser
import Foundation
import SDNConfig

/// `sdn push`: the configuration files → a new pending revision on sdnd (nothing is applied).
struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send the configuration files to sdnd as a new pending revision; sdnd validates them first.",
        discussion: """
            Reads files as `sdn validate` does (default: Topologies/ and Policies/) and sends them with their paths \
            relative to the current directory, so that `sdn pull` writes them back where they were. Nothing is applied: \
            `sdn plan` shows what applying would do, `sdn apply` does it.
            Exit status: 0 pushed, 1 failed or refused, 2 the files have errors (printed as `sdn validate` prints them) or cannot be read.
            """
    )

    @OptionGroup var input: ConfigInputOptions

    @Option(name: [.short, .long], help: "What changed and why (the revision's message in `sdn history`).")
    var message: String = ""

    @Option(help: ArgumentHelp("Refuse the push if the daemon's head is no longer revision N (someone pushed since you pulled N).", valueName: "n"))
    var base: Int64?

    @OptionGroup var client: ClientOptions

    func run() throws {
        let documents = try InputCollector.collectOrExit(input.paths)
        let directory = FileManager.default.currentDirectoryPath
        var relative: [ConfigDocument] = []
        for document in documents {
            guard let path = Self.relativePath(document.path, from: directory) else {
                printError("sdn: \(document.path): outside the current directory (\(directory)); sdn push sends paths relative to it so that `sdn pull` can write them back: run it from a directory that contains every file")
                throw ExitCode.badInput
            }
            relative.append(ConfigDocument(path: path, text: document.text, kind: document.kind))
        }
        let session = try client.session()
        let headers = base.map { [("If-Match", "\"rev-\($0)\"")] } ?? []
        let body = ConfigPush(documents: relative.map { RemoteDocument(path: $0.path, text: $0.text) }, message: message)
        let response = try session.call("PUT", "/v1/config", json: body, headers: headers, sources: relative)
        if session.output == .json { return session.printJSON(response) }
        let created = try session.decode(CreatedRevision.self, from: response)
        print("pushed revision \(created.revision): \(relative.count) file\(relative.count == 1 ? "" : "s") (pending: `sdn plan` shows what applying it does, `sdn apply` applies it)")
    }

    /// `path` relative to `directory`, `.` and `..` resolved; nil if it lies outside. Compared as
    /// written first, then with symbolic links resolved (a path given through a link to the directory).
    static func relativePath(_ path: String, from directory: String) -> String? {
        func components(_ text: String) -> [String] {
            var result: [String] = []
            for part in text.split(separator: "/") where part != "." {
                if part == ".." { _ = result.popLast() } else { result.append(String(part)) }
            }
            return result
        }
        func relative(_ path: String, _ base: String) -> String? {
            let file = components(path.hasPrefix("/") ? path : base + "/" + path)
            let root = components(base)
            guard file.count > root.count, Array(file.prefix(root.count)) == root else { return nil }
            return file.dropFirst(root.count).joined(separator: "/")
        }
        if let found = relative(path, directory) { return found }
        let absolute = path.hasPrefix("/") ? path : directory + "/" + path
        guard let resolvedFile = realpath(absolute, nil), let resolvedDirectory = realpath(directory, nil) else { return nil }
        defer {
            free(resolvedFile)
            free(resolvedDirectory)
        }
        return relative(String(cString: resolvedFile), String(cString: resolvedDirectory))
    }
}
