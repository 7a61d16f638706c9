import Foundation
import SDNTesting
import Testing

@Suite("Golden files")
struct GoldenTests {
    /// A fresh directory per test, removed afterwards.
    static func withScratchDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-golden-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    @Test func recordModeWritesTheFileCreatingDirectories() throws {
        try Self.withScratchDirectory { directory in
            let golden = "\(directory)/case/nested/expected.nft"
            Golden.assertMatches("table inet sdn {\n}\n", goldenFile: golden, record: true)
            try #expect(String(contentsOfFile: golden, encoding: .utf8) == "table inet sdn {\n}\n")
            // And what was recorded now matches without issues.
            Golden.assertMatches("table inet sdn {\n}\n", goldenFile: golden, record: false)
        }
    }

    @Test func recordModeOverwrites() throws {
        try Self.withScratchDirectory { directory in
            let golden = "\(directory)/expected.txt"
            Golden.assertMatches("old\n", goldenFile: golden, record: true)
            Golden.assertMatches("new\n", goldenFile: golden, record: true)
            try #expect(String(contentsOfFile: golden, encoding: .utf8) == "new\n")
        }
    }

    @Test func mismatchIsAnIssueWithALineDiffAndHowToRecord() throws {
        try Self.withScratchDirectory { directory in
            let golden = "\(directory)/expected.txt"
            Golden.assertMatches("a\nb\nc\n", goldenFile: golden, record: true)
            withKnownIssue {
                Golden.assertMatches("a\nB\nc\n", goldenFile: golden, record: false)
            } matching: { issue in
                let text = issue.comments.map(\.rawValue).joined(separator: "\n")
                return text.contains("- 2 | b") && text.contains("+ 2 | B") && text.contains("SDN_RECORD_GOLDEN=1")
                    && text.contains(golden)
            }
        }
    }

    @Test func missingGoldenFileIsAnIssueThatSaysHowToRecord() throws {
        try Self.withScratchDirectory { directory in
            withKnownIssue {
                Golden.assertMatches("anything", goldenFile: "\(directory)/missing.txt", record: false)
            } matching: { issue in
                let text = issue.comments.map(\.rawValue).joined(separator: "\n")
                return text.contains("does not exist") && text.contains("SDN_RECORD_GOLDEN=1 swift test")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/missing.txt"))
        }
    }
}

@Suite("Line differences")
struct LineDifferenceTests {
    @Test func equalTextsHaveNoDifference() {
        #expect(LineDifference.describe(expected: "a\nb\n", actual: "a\nb\n") == nil)
    }

    @Test func changedLineIsShownWithNumbersAndContext() {
        let expected = (1...9).map { "line \($0)" }.joined(separator: "\n")
        let actual = expected.replacingOccurrences(of: "line 5", with: "LINE FIVE")
        #expect(LineDifference.describe(expected: expected, actual: actual) == """
            --- expected (golden file)
            +++ actual
              3 | line 3
              4 | line 4
            - 5 | line 5
            + 5 | LINE FIVE
              6 | line 6
              7 | line 7
            """)
    }

    @Test func insertedLinesAreAlignedSoLaterLinesAreNotReportedAsChanged() {
        let expected = "a\nb\nc\nd\ne\nf\ng\nh\n"
        let actual = "a\nb\nc\nnew 1\nnew 2\nd\ne\nf\ng\nh\n"
        #expect(LineDifference.describe(expected: expected, actual: actual) == """
            --- expected (golden file)
            +++ actual
               2 | b
               3 | c
            +  4 | new 1
            +  5 | new 2
               4 | d
               5 | e
            """)
    }

    @Test func distantChangesAreSeparatedByACountOfUnchangedLines() throws {
        let lines = (1...20).map(String.init)
        let expected = lines.joined(separator: "\n")
        var changed = lines
        changed[1] = "two"
        changed[18] = "nineteen"
        let actual = changed.joined(separator: "\n")
        let description = try #require(LineDifference.describe(expected: expected, actual: actual))
        #expect(description.contains("… 12 unchanged lines"))
        #expect(description.contains("-  2 | 2"))
        #expect(description.contains("+ 19 | nineteen"))
    }

    @Test func missingTrailingNewlineIsNamed() throws {
        let description = try #require(LineDifference.describe(expected: "a\n", actual: "a"))
        #expect(description.contains("the golden file ends with a newline, the actual output does not"))
    }

    @Test func longDifferencesAreCut() throws {
        let expected = (1...500).map { "old \($0)" }.joined(separator: "\n")
        let actual = (1...500).map { "new \($0)" }.joined(separator: "\n")
        let description = try #require(LineDifference.describe(expected: expected, actual: actual, maximumLines: 10))
        let lines = description.split(separator: "\n")
        #expect(lines.count == 13)
        #expect(lines.last == "… 990 more lines of difference")
    }
}
