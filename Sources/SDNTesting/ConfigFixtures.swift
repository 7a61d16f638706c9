import Foundation
public import SDNConfig

/// Every YAML file below `directory`, read as the CLI reads it, with paths relative to `directory` so
/// goldens and diagnostics do not depend on where the repository is checked out.
public func loadDocuments(under directory: String) -> [ConfigDocument] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
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
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// The shipped examples: the repository's own `Topologies/` + `Policies/` demo and every `examples/<name>/`.
public func exampleDirectories() -> [String] {
    let examples = repositoryRoot + "/examples"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []
    return [repositoryRoot] + names.sorted().filter { !$0.hasPrefix(".") }.map { examples + "/" + $0 }
}

/// An example's documents: its `Topologies/` and `Policies/` only, with paths relative to the example.
public func loadExampleDocuments(_ directory: String) -> [ConfigDocument] {
    ["Topologies", "Policies"].flatMap { folder in
        loadDocuments(under: directory + "/" + folder).map { document in
            let path = folder + "/" + document.path
            return ConfigDocument(path: path, text: document.text, kind: ConfigDocument.kind(impliedBy: path))
        }
    }
}
