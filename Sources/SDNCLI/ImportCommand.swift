import ArgumentParser
import Foundation
import SDNConfig
import SDNModel
import SDNProxmoxImport

/// `sdn import`: bring another system's configuration in as Topologies/ and Policies/.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import another system's network and firewall configuration.",
        subcommands: [ImportProxmoxCommand.self, ImportLibvirtCommand.self]
    )
}

/// `sdn import proxmox <dir> --output <dir>|- [--node N] [--check]`.
struct ImportProxmoxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxmox",
        abstract: "Import a Proxmox VE cluster's firewall, SDN and guest networks.",
        discussion: """
            <dir> is a copy of /etc/pve, with each node's /etc/network/interfaces copied to \
            nodes/<node>/interfaces. Writes Topologies/, Policies/ and IMPORT-REPORT.txt (every line that \
            does not carry over one to one: where, what it meant, what sdn does instead, why).
            Exit status: 0 imported; 1 the input has errors, or --check and something was dropped; \
            2 the input could not be read.
            """
    )

    @Argument(help: "A copy of the cluster's /etc/pve (with nodes/<node>/interfaces).", completion: .directory)
    var directory: String

    @Option(name: .shortAndLong, help: "Where to write Topologies/, Policies/ and the report; '-' prints everything.")
    var output: String

    @Option(help: "Import only this node (its uplinks, host firewall and guests) with the cluster-wide parts.")
    var node: String?

    @Flag(help: "Exit with status 1 if anything was dropped.")
    var check = false

    func run() throws {
        let tree: ProxmoxTree
        do { tree = try Self.readTree(directory) } catch let error as InputError {
            printError("sdn: \(error.description)")
            throw ExitCode.badInput
        }
        let result = ProxmoxImporter.run(tree, node: node)
        // The import is only useful if `sdn validate` accepts it: check it here and say so.
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(result.documents)

        if output == "-" {
            for file in result.files where file.path.hasSuffix(".yaml") {
                print("--- # \(file.path)")
                print(file.text, terminator: "")
            }
            FileHandle.standardError.write(Data(result.report.text.utf8))
        } else {
            try write(result.files, to: output)
            FileHandle.standardError.write(Data(result.report.text.utf8))
            printError("wrote \(result.files.count) files to \(output)")
        }
        for diagnostic in diagnostics { printError(diagnostic.description) }
        printError(validated == nil ? "the imported configuration does not validate" : "the imported configuration validates")
        if result.report.diagnostics.hasErrors || validated == nil || (check && result.report.losesSomething) {
            throw ExitCode.failed
        }
    }

    private func write(_ files: [ImportResult.File], to directory: String) throws {
        let fileManager = FileManager.default
        for file in files {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(file.path)
            do {
                try fileManager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try file.text.write(to: url, atomically: true, encoding: .utf8)
            } catch {
                printError("sdn: cannot write \(url.path): \(error.localizedDescription)")
                throw ExitCode.badInput
            }
        }
    }

    /// Reads the files the importer understands; lists the others; notes unreadable ones.
    static func readTree(_ root: String, fileManager: FileManager = .default) throws -> ProxmoxTree {
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(description: "\(root): no such directory")
        }
        guard let enumerator = fileManager.enumerator(atPath: root) else {
            throw InputError(description: "\(root): cannot list the directory")
        }
        var tree = ProxmoxTree(files: [:])
        while let relative = enumerator.nextObject() as? String {
            let path = (root as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard ProxmoxTree.isRelevant(relative) else {
                tree.skipped.append(relative)
                continue
            }
            guard let data = fileManager.contents(atPath: path) else {
                tree.unreadable[relative] = "permission denied or not a regular file"
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                tree.unreadable[relative] = "not UTF-8 text"
                continue
            }
            tree.files[relative] = text
        }
        tree.skipped.sort()
        return tree
    }
}
