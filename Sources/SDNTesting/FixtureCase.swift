import Foundation
public import Testing

/// One fixture folder: a test case's inputs and golden outputs side by side.
///
/// Fixtures live in `Tests/<Module>Tests/Fixtures/<case>/`; one folder per case, named after what
/// it tests. Use them as test arguments so each case is reported by name:
///
///     @Test(arguments: FixtureCase.all(in: fixturesDirectory("compile")))
///     func compiles(_ fixture: FixtureCase) throws {
///         let output = try compile(#require(fixture.read("input.yaml")))
///         Golden.assertMatches(output, goldenFile: fixture.path("expected.nft"))
///     }
public struct FixtureCase: Sendable, Hashable, CustomStringConvertible, CustomTestStringConvertible {
    /// The folder name, which names the case.
    public let name: String
    /// The folder's absolute path.
    public let directory: String

    /// The case in `directory`; its name is the folder's last path component.
    public init(directory: String) {
        self.directory = directory
        self.name = URL(fileURLWithPath: directory).lastPathComponent
    }

    /// One case per subfolder of `directory`, sorted by name; files and hidden folders are skipped.
    ///
    /// An empty result (also for a missing `directory`) makes a parameterized test run zero times, so
    /// a suite that relies on fixtures should also check that there are some.
    public static func all(in directory: String) -> [FixtureCase] {
        let fileManager = FileManager.default
        guard let entries = try? fileManager.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.sorted().compactMap { entry in
            guard !entry.hasPrefix(".") else { return nil }
            let path = (directory as NSString).appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                return nil
            }
            return FixtureCase(directory: path)
        }
    }

    /// The absolute path of `file` in this case's folder (which need not exist yet, e.g. a golden
    /// file about to be recorded).
    public func path(_ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }

    /// The UTF-8 content of `file`, or `nil` if it does not exist or cannot be read.
    public func read(_ file: String) -> String? {
        try? String(contentsOfFile: path(file), encoding: .utf8)
    }

    /// Names (not paths) of the regular files in this case's folder ending in `.<fileExtension>`,
    /// sorted. Pass the extension without the dot: `files(withExtension: "yaml")`.
    public func files(withExtension fileExtension: String) -> [String] {
        let fileManager = FileManager.default
        guard let entries = try? fileManager.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return entry.hasSuffix(".\(fileExtension)")
                && fileManager.fileExists(atPath: path(entry), isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    public var description: String { name }
    public var testDescription: String { name }
}

/// The `Fixtures` folder of the test target that contains the calling file, plus `components`.
///
/// From `/…/Tests/SDNConfigTests/Import/ProxmoxTests.swift`,
/// `fixturesDirectory("proxmox")` is `/…/Tests/SDNConfigTests/Fixtures/proxmox`. The target folder is
/// the nearest ancestor whose parent is named `Tests`; if there is none, the calling file's own folder
/// is used.
public func fixturesDirectory(for filePath: StaticString = #filePath, _ components: String...) -> String {
    let file = URL(fileURLWithPath: "\(filePath)")
    var candidate = file.deletingLastPathComponent()
    var targetDirectory = candidate
    while candidate.path != "/" {
        if candidate.deletingLastPathComponent().lastPathComponent == "Tests" {
            targetDirectory = candidate
            break
        }
        candidate = candidate.deletingLastPathComponent()
    }
    var directory = targetDirectory.appendingPathComponent("Fixtures")
    for component in components {
        directory = directory.appendingPathComponent(component)
    }
    return directory.path
}
