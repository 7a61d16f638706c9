import Foundation
@testable import SDNCLI
import SDNConfig
import SDNTesting
import Testing

/// What `sdn validate DIR` reads: nothing below a directory is skipped silently, symbolic links are
/// followed without looping, and no file is read whole when it is too large.
@Suite struct InputCollectorTests {
    /// A scratch directory, removed after `body`.
    func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-input-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try body(directory)
    }

    func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func inputError(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as InputError {
            return error.description
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func symlinkedDirectoryInsideTheTreeIsFollowed() throws {
        try withDirectory { root in
            try write("nodes: { pve1: {} }\n", to: root + "/shared/nodes.yaml")
            try FileManager.default.createDirectory(atPath: root + "/Topologies", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/Topologies/shared", withDestinationPath: "../shared")
            let documents = try InputCollector.collect([root + "/Topologies"])
            #expect(documents.map(\.path) == [root + "/Topologies/shared/nodes.yaml"])
        }
    }

    @Test func aFileReachedTwiceIsReadOnce() throws {
        try withDirectory { root in
            try write("nodes: { pve1: {} }\n", to: root + "/Topologies/a/nodes.yaml")
            try FileManager.default.createSymbolicLink(atPath: root + "/Topologies/b", withDestinationPath: "a")
            let documents = try InputCollector.collect([root + "/Topologies", root + "/Topologies/a/nodes.yaml"])
            #expect(documents.map(\.path) == [root + "/Topologies/a/nodes.yaml"])
        }
    }

    @Test func symlinkLoopIsRefused() throws {
        try withDirectory { root in
            try write("nodes: { pve1: {} }\n", to: root + "/Policies/inner/fw.yaml")
            try FileManager.default.createSymbolicLink(atPath: root + "/Policies/inner/up", withDestinationPath: "..")
            let message = inputError { try InputCollector.collect([root + "/Policies"]) }
            #expect(message?.contains("Policies/inner/up: a symbolic link loop (it leads back to \(root)/Policies/)") == true, "\(message ?? "nil")")
        }
    }

    @Test func danglingSymlinkIsRefused() throws {
        try withDirectory { root in
            try FileManager.default.createDirectory(atPath: root + "/Policies", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/Policies/tenants", withDestinationPath: "../missing")
            let message = inputError { try InputCollector.collect([root + "/Policies"]) }
            #expect(message?.contains("Policies/tenants: cannot follow the symbolic link to ../missing") == true, "\(message ?? "nil")")
        }
    }

    /// Root lists every directory whatever its mode, so the listing failure is injected here
    /// (`BoundsCommandTests` runs sdn as nobody for the real thing).
    @Test func unlistableDirectoryIsRefused() throws {
        try withDirectory { root in
            try write("groups: { web: [in accept HTTP] }\n", to: root + "/Policies/tenants/a.yaml")
            try write("cluster: [in accept SSH]\n", to: root + "/Policies/cluster.yaml")
            let refused = root + "/Policies/tenants"
            let message = inputError {
                try InputCollector.collect([root + "/Policies"]) { path in
                    if path == refused { throw DirectoryWalker.ListingError(code: EACCES) }
                    return try DirectoryWalker.entries(of: path)
                }
            }
            #expect(message == "\(root)/Policies/tenants/: cannot list the directory (Permission denied)")
        }
    }

    @Test func fifoNamedYAMLIsRefusedUnread() throws {
        try withDirectory { root in
            try FileManager.default.createDirectory(atPath: root + "/Policies", withIntermediateDirectories: true)
            #expect(mkfifo(root + "/Policies/fw.yaml", 0o600) == 0)
            let message = inputError { try InputCollector.collect([root + "/Policies"]) }
            #expect(message == "\(root)/Policies/fw.yaml: not a regular file")
        }
    }

    /// A 3 GiB (sparse) file is refused by its size, without reading it.
    @Test(.timeLimit(.minutes(1))) func hugeFileIsRefusedUnread() throws {
        try withDirectory { root in
            let path = root + "/Topologies/huge.yaml"
            try write("", to: path)
            #expect(truncate(path, 3 << 30) == 0)
            let started = ContinuousClock.now
            let message = inputError { try InputCollector.collect([root + "/Topologies"]) }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(message == "\(path): larger than 64 MiB; sdn reads configuration files of at most 64 MiB (split it into several files)")
        }
    }

    /// A pipe has no size: it is read until one byte too many.
    @Test func endlessPipeIsCutOff() throws {
        let message = inputError { try InputCollector.collect(["/dev/zero"]) }
        #expect(message?.hasPrefix("/dev/zero: larger than 64 MiB") == true, "\(message ?? "nil")")
    }

    @Test func crlfExcerptIsTheLineNotTheFile() {
        let document = ConfigDocument(path: "net.yaml", text: "nodes:\r\n  pve1:\r\n    adress: 1.2.3.4\r\n")
        let diagnostic = ConfigLoader.loadAndValidate([document]).diagnostics.first { $0.code == .unknownKey }
        let rendered = DiagnosticPrinter(style: Style(enabled: false), documents: [document]).render(diagnostic!)
        #expect(rendered.contains(" 3 |     adress: 1.2.3.4\n   |     ^"), "\(rendered)")
        #expect(!rendered.contains("nodes:"))
    }

    @Test func longLinesAreCutAroundTheColumn() {
        let line = Substring(String(repeating: "a", count: 500) + "X" + String(repeating: "b", count: 500))
        let (text, caret) = DiagnosticPrinter.excerpt(of: line, column: 501)
        #expect(text.unicodeScalars.count == DiagnosticPrinter.excerptWidth + 2)
        #expect(Array(text.unicodeScalars)[caret] == "X")
    }
}
