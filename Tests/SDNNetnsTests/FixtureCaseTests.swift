import Foundation
import SDNTesting
import Testing

@Suite("Fixture discovery")
struct FixtureCaseTests {
    @Test func findsOneCasePerFolderSortedByName() throws {
        try GoldenTests.withScratchDirectory { root in
            let fileManager = FileManager.default
            for folder in ["zone-b", "zone-a", ".git"] {
                try fileManager.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
            }
            #expect(fileManager.createFile(atPath: "\(root)/README.md", contents: Data()))
            #expect(fileManager.createFile(atPath: "\(root)/zone-a/input.yaml", contents: Data("vnets: {}\n".utf8)))
            #expect(fileManager.createFile(atPath: "\(root)/zone-a/expected.nft", contents: Data()))
            #expect(fileManager.createFile(atPath: "\(root)/zone-a/other.yaml", contents: Data()))
            try fileManager.createDirectory(atPath: "\(root)/zone-a/sub.yaml", withIntermediateDirectories: true)

            let cases = FixtureCase.all(in: root)
            #expect(cases.map(\.name) == ["zone-a", "zone-b"])
            let zoneA = try #require(cases.first)
            #expect(zoneA.directory == "\(root)/zone-a")
            #expect(zoneA.path("input.yaml") == "\(root)/zone-a/input.yaml")
            #expect(zoneA.read("input.yaml") == "vnets: {}\n")
            #expect(zoneA.read("absent.yaml") == nil)
            #expect(zoneA.files(withExtension: "yaml") == ["input.yaml", "other.yaml"])
            #expect(zoneA.description == "zone-a")
        }
    }

    @Test func missingDirectoryHasNoCases() {
        #expect(FixtureCase.all(in: "/nonexistent/sdn/fixtures").isEmpty)
    }

    @Test func fixturesDirectoryIsBesideTheCallingTestTarget() {
        let directory = fixturesDirectory("compile", "basic")
        #expect(directory.hasSuffix("/Tests/SDNNetnsTests/Fixtures/compile/basic"))
    }

    @Test func fixturesDirectoryFromANestedTestFile() {
        let directory = fixturesDirectory(for: "/repo/Tests/SDNConfigTests/Import/ProxmoxTests.swift", "proxmox")
        #expect(directory == "/repo/Tests/SDNConfigTests/Fixtures/proxmox")
    }
}
