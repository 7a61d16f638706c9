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
///
/// Nothing is skipped silently: a directory that cannot be listed, a symbolic link that leads nowhere
/// or back into itself, a `*.yaml` entry that is not a regular file, and a file over
/// `ConfigDocument.maximumFileSize` (or input over `ConfigDocument.maximumTotalSize` in all) stop the
/// command with exit status 2. Symbolic links inside a directory are followed (to files and
/// directories); a file reached along two paths is read once, under the first path in sorted order.
enum InputCollector {
    /// `collect`, or exit with status 2 after saying what could not be read.
    static func collectOrExit(_ paths: [String]) throws -> [ConfigDocument] {
        do {
            return try collect(paths)
        } catch let error as InputError {
            printError("sdn: \(error.description)")
            throw ExitCode.badInput
        }
    }

    static func collect(_ paths: [String], fileManager: FileManager = .default, listing: @escaping (String) throws -> [String] = DirectoryWalker.entries) throws -> [ConfigDocument] {
        var requested = paths
        if requested.isEmpty {
            requested = ConfigInputOptions.defaultDirectories.filter { fileManager.fileExists(atPath: $0) }
            if requested.isEmpty {
                throw InputError(description: "no Topologies/ or Policies/ directory here (\(fileManager.currentDirectoryPath)); name files or directories to read")
            }
        }
        var walker = DirectoryWalker(listing: listing)
        var files: [String] = []
        for path in requested {
            let info = try FileStatus.following(path)
            if info.isDirectory {
                files += try walker.yamlFiles(under: path, identity: info.identity)
            } else {
                // A file named on the command line is read whatever it is (`<(…)` gives a pipe).
                files.append(path)
            }
        }
        var seen = Set<FileStatus.Identity>()
        var documents: [ConfigDocument] = []
        var total = 0
        for file in files {
            let info = try FileStatus.following(file)
            guard seen.insert(info.identity).inserted else { continue }
            let data = try readBounded(file, status: info)
            total += data.count
            if total > ConfigDocument.maximumTotalSize {
                throw InputError(description: "\(file): the input passes \(ConfigDocument.maximumTotalSize >> 20) MiB in all; sdn reads at most that much configuration at once")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw InputError(description: "\(file): not UTF-8 text")
            }
            documents.append(ConfigDocument(path: file, text: text, kind: ConfigDocument.kind(impliedBy: file)))
        }
        return documents
    }

    /// The file's bytes, refusing more than `ConfigDocument.maximumFileSize`: a regular file by its
    /// size before reading anything, anything else (a pipe) once it has delivered one byte too many.
    static func readBounded(_ file: String, status: FileStatus) throws -> Data {
        let limit = ConfigDocument.maximumFileSize
        let tooLarge = InputError(description: "\(file): larger than \(limit >> 20) MiB; sdn reads configuration files of at most \(limit >> 20) MiB (split it into several files)")
        if status.isRegular && status.size > limit { throw tooLarge }
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputError(description: "\(file): cannot read the file (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw InputError(description: "\(file): cannot read the file (\(String(cString: strerror(errno))))")
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
            if data.count > limit { throw tooLarge }
        }
    }
}

/// What `stat` says about a path (following symbolic links), as much as the collector needs.
struct FileStatus {
    /// Device and inode: the same file or directory reached along different paths.
    struct Identity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    var identity: Identity
    var isDirectory: Bool
    var isRegular: Bool
    var size: Int

    /// The status of what `path` leads to; a dangling link or a missing path is an `InputError`.
    static func following(_ path: String) throws -> FileStatus {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno
            var link = stat()
            if lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                let why = reason == ELOOP ? "a loop of symbolic links" : String(cString: strerror(reason)).lowercased()
                throw InputError(description: "\(path): cannot follow the symbolic link to \(target) (\(why))")
            }
            if reason == ENOENT { throw InputError(description: "\(path): no such file or directory") }
            throw InputError(description: "\(path): cannot read it (\(String(cString: strerror(reason))))")
        }
        return FileStatus(identity: Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)),
                          isDirectory: (info.st_mode & S_IFMT) == S_IFDIR, isRegular: (info.st_mode & S_IFMT) == S_IFREG,
                          size: Int(info.st_size))
    }
}

/// Lists the `*.yaml` / `*.yml` files below a directory, following symbolic links and refusing loops.
struct DirectoryWalker {
    /// Why a directory could not be listed: an errno value.
    struct ListingError: Error {
        var code: Int32
    }

    /// The names in a directory (without `.` and `..`); tests inject failures here.
    let listing: (String) throws -> [String]
    /// Directories already walked (a second link to one adds nothing).
    private var walked = Set<FileStatus.Identity>()

    init(listing: @escaping (String) throws -> [String] = DirectoryWalker.entries) { self.listing = listing }

    /// `opendir`/`readdir`, for the errno of a failure (Foundation's listing error does not carry it).
    static func entries(of directory: String) throws -> [String] {
        guard let stream = opendir(directory) else { throw ListingError(code: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw ListingError(code: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// The files in sorted path order, each path `root` + `/` + its path below it.
    mutating func yamlFiles(under root: String, identity: FileStatus.Identity) throws -> [String] {
        var found: [String] = []
        let base = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        try walk(base, identity: identity, ancestors: [identity: base], into: &found)
        return found.sorted()
    }

    private mutating func walk(_ directory: String, identity: FileStatus.Identity, ancestors: [FileStatus.Identity: String], into found: inout [String]) throws {
        guard walked.insert(identity).inserted else { return }
        let entries: [String]
        do {
            entries = try listing(directory)
        } catch let error as ListingError {
            throw InputError(description: "\(directory)/: cannot list the directory (\(String(cString: strerror(error.code))))")
        }
        for name in entries.sorted() {
            let path = directory + "/" + name
            let info = try FileStatus.following(path)
            if info.isDirectory {
                if let ancestor = ancestors[info.identity] {
                    throw InputError(description: "\(path): a symbolic link loop (it leads back to \(ancestor)/)")
                }
                var inner = ancestors
                inner[info.identity] = path
                try walk(path, identity: info.identity, ancestors: inner, into: &found)
            } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                guard info.isRegular else { throw InputError(description: "\(path): not a regular file") }
                found.append(path)
            }
        }
    }
}
