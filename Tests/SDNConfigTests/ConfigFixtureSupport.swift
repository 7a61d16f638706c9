import Foundation
import SDNConfig
import SDNModel
import SDNTesting

/// Reads every YAML file below `directory` as the CLI would, with paths relative to `directory` so
/// golden files do not depend on where the repository is checked out.
func loadDocuments(under directory: String) -> [ConfigDocument] {
    let fileManager = FileManager.default
    guard let enumerator = fileManager.enumerator(atPath: directory) else { return [] }
    var relativePaths: [String] = []
    while let relative = enumerator.nextObject() as? String {
        if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") { relativePaths.append(relative) }
    }
    return relativePaths.sorted().compactMap { relative in
        guard let text = try? String(contentsOfFile: directory + "/" + relative, encoding: .utf8) else { return nil }
        return ConfigDocument(path: relative, text: text, kind: ConfigDocument.kind(impliedBy: relative))
    }
}

/// The repository root, found from this file's location.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// Example configurations: the root `Topologies/` + `Policies/` demo and every `examples/<name>/`.
func exampleDirectories() -> [String] {
    var directories = [repositoryRoot]
    let examples = repositoryRoot + "/examples"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []
    directories += names.sorted().filter { !$0.hasPrefix(".") }.map { examples + "/" + $0 }
    return directories
}
