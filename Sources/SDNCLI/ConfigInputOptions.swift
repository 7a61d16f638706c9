import ArgumentParser
import Foundation
import SDNConfig
import SDNModel

/// Where the configuration comes from: files or directories, by default `Topologies/` and `Policies/`.
/// Every command takes them both ways, as arguments and as repeated `--config`, meaning the same.
struct ConfigInputOptions: ParsableArguments {
    @Argument(help: "YAML files or directories to read (default: Topologies/ and Policies/).", completion: .file(extensions: ["yaml", "yml"]))
    var positionalPaths: [String] = []

    @Option(name: .customLong("config"), help: ArgumentHelp("A YAML file or directory to read, as the arguments (repeatable).", valueName: "path"),
            completion: .file(extensions: ["yaml", "yml"]))
    var configPaths: [String] = []

    /// The arguments, then the `--config` paths.
    var paths: [String] { positionalPaths + configPaths }

    static let defaultDirectories = ["Topologies", "Policies"]
}

/// A failure to read input at all (as opposed to input with problems): exit status 2.
struct InputError: Error, CustomStringConvertible {
    var description: String
}

/// Finds and reads the documents named on the command line.
enum InputCollector {
    /// `collect`, or exit with status 2 after saying what could not be read.
    static func collectOrExit(_ paths: [String]) throws -> [ConfigDocument] {
        do {
            return try collect(paths)
        } catch let error as InputError {
            printError("sdn: \(error.description)")
            throw ExitCode(2)
        }
    }

    static func collect(_ paths: [String], fileManager: FileManager = .default) throws -> [ConfigDocument] {
        var requested = paths
        if requested.isEmpty {
            requested = ConfigInputOptions.defaultDirectories.filter { fileManager.fileExists(atPath: $0) }
            if requested.isEmpty {
                throw InputError(description: "no Topologies/ or Policies/ directory here (\(fileManager.currentDirectoryPath)); name files or directories to read")
            }
        }
        var files: [String] = []
        for path in requested {
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw InputError(description: "\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                guard let enumerator = fileManager.enumerator(atPath: path) else {
                    throw InputError(description: "\(path): cannot list the directory")
                }
                var found: [String] = []
                while let relative = enumerator.nextObject() as? String {
                    if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") {
                        found.append(path.hasSuffix("/") ? path + relative : path + "/" + relative)
                    }
                }
                files += found.sorted()
            } else {
                files.append(path)
            }
        }
        return try files.map { file in
            guard let data = fileManager.contents(atPath: file) else {
                throw InputError(description: "\(file): cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw InputError(description: "\(file): not UTF-8 text")
            }
            return ConfigDocument(path: file, text: text, kind: ConfigDocument.kind(impliedBy: file))
        }
    }
}
