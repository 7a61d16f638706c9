import Foundation
import SDNConfig
import SDNModel
import SDNProxmoxImport
import SDNTesting
import Testing

/// Reads a fixture folder's `input/` as a Proxmox tree (the files the importer reads; others skipped).
func readTree(_ directory: String) throws -> ProxmoxTree {
    let fileManager = FileManager.default
    guard let enumerator = fileManager.enumerator(atPath: directory) else { throw TreeError(directory: directory) }
    var tree = ProxmoxTree(files: [:])
    while let relative = enumerator.nextObject() as? String {
        let path = (directory as NSString).appendingPathComponent(relative)
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
        if ProxmoxTree.isRelevant(relative) {
            tree.files[relative] = try String(contentsOfFile: path, encoding: .utf8)
        } else {
            tree.skipped.append(relative)
        }
    }
    tree.skipped.sort()
    return tree
}

struct TreeError: Error { var directory: String }

/// Every file of an import concatenated, each under a `=== path` header: one golden per fixture.
func goldenText(_ result: ImportResult) -> String {
    result.files.map { "=== \($0.path)\n\($0.text)" }.joined(separator: "\n")
}
