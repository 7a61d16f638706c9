import Foundation
public import Testing

/// Golden-file assertions: compare output with a file checked in beside the test, or (re)write that
/// file in record mode.
///
/// Record mode is on when the environment has `SDN_RECORD_GOLDEN=1`:
///
///     SDN_RECORD_GOLDEN=1 swift test --filter RendererTests
///
/// then review the changed golden files with `git diff` before committing them.
public enum Golden {
    /// The environment variable that turns record mode on.
    public static let recordVariable = "SDN_RECORD_GOLDEN"

    /// Whether record mode is on for this process (`SDN_RECORD_GOLDEN=1`).
    public static var isRecording: Bool {
        ProcessInfo.processInfo.environment[recordVariable] == "1"
    }

    /// Checks that `actual` equals the content of `goldenFile`.
    ///
    /// - In record mode, writes `actual` to `goldenFile` (creating its directories), prints a note and
    ///   records no issue.
    /// - Otherwise records an issue if the file is missing (saying how to record it) or differs
    ///   (with a line diff and how to re-record).
    ///
    /// - Parameters:
    ///   - actual: the output under test.
    ///   - goldenFile: absolute path of the expected output, usually from `FixtureCase.path(_:)`.
    ///   - record: whether to write instead of compare; defaults to ``isRecording``.
    public static func assertMatches(
        _ actual: String,
        goldenFile: String,
        record: Bool = isRecording,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        if record {
            do {
                try write(actual, to: goldenFile)
            } catch {
                Issue.record(error, "could not record golden file \(goldenFile)", sourceLocation: sourceLocation)
            }
            return
        }

        guard FileManager.default.fileExists(atPath: goldenFile) else {
            Issue.record(
                "golden file \(goldenFile) does not exist.\n\(howToRecord(creating: true))",
                sourceLocation: sourceLocation
            )
            return
        }
        let expected: String
        do {
            expected = try String(contentsOfFile: goldenFile, encoding: .utf8)
        } catch {
            Issue.record(error, "could not read golden file \(goldenFile)", sourceLocation: sourceLocation)
            return
        }
        if let difference = LineDifference.describe(expected: expected, actual: actual) {
            Issue.record(
                "output differs from golden file \(goldenFile)\n\(difference)\n\(howToRecord(creating: false))",
                sourceLocation: sourceLocation
            )
        }
    }

    private static func write(_ content: String, to goldenFile: String) throws {
        let url = URL(fileURLWithPath: goldenFile)
        let previous = try? String(contentsOf: url, encoding: .utf8)
        guard previous != content else {
            print("note: golden file \(goldenFile) is unchanged (record mode)")
            return
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try content.write(to: url, atomically: true, encoding: .utf8)
        print("note: recorded golden file \(goldenFile) (record mode, \(content.utf8.count) bytes) — review it with git diff")
    }

    private static func howToRecord(creating: Bool) -> String {
        // `--filter` is a regular expression: use the bare function name, without "(_:)".
        let filter = Test.current.map { " --filter '\($0.name.prefix { $0 != "(" })'" } ?? ""
        let verb = creating ? "create it" : "accept the new output"
        return "To \(verb), run: \(recordVariable)=1 swift test\(filter)  — then review the golden file with git diff."
    }
}
