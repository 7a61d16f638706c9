/// A readable line diff of two texts, for golden-file failures.
///
/// Lines are numbered as in each text, `-` for expected (the golden file) and `+` for actual, with
/// two lines of context around each change:
///
///     --- expected (golden file)
///     +++ actual
///        2 | table inet sdn {
///     -  3 |     chain input {
///     +  3 |     chain inbound {
///        4 |         type filter hook input priority filter;
public enum LineDifference {
    /// Lines of unchanged context shown around each change.
    static let contextLines = 2
    /// Above this many cells the middle part is shown as "all removed, all added" instead of being
    /// aligned line by line (the alignment is quadratic).
    static let alignmentLimit = 4_000_000

    /// A description of how `actual` differs from `expected`, or `nil` if they are equal.
    ///
    /// - Parameter maximumLines: longer descriptions are cut, saying how many lines were left out.
    public static func describe(expected: String, actual: String, maximumLines: Int = 60) -> String? {
        guard expected != actual else { return nil }
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

        let edits = alignedEdits(expectedLines, actualLines)
        var output = ["--- expected (golden file)", "+++ actual"]
        output += render(edits, numberWidth: String(max(expectedLines.count, actualLines.count)).count)
        if output.count > maximumLines + 2 {
            let omitted = output.count - maximumLines - 2
            output = Array(output.prefix(maximumLines + 2)) + ["… \(omitted) more lines of difference"]
        }
        if expected.hasSuffix("\n") != actual.hasSuffix("\n") {
            output.append(
                expected.hasSuffix("\n")
                    ? "note: the golden file ends with a newline, the actual output does not"
                    : "note: the actual output ends with a newline, the golden file does not"
            )
        }
        return output.joined(separator: "\n")
    }

    enum Edit: Equatable {
        /// An unchanged line with its number in expected and in actual (1-based).
        case same(String, expectedLine: Int, actualLine: Int)
        case removed(String, line: Int)
        case added(String, line: Int)
    }

    /// The edit script: common prefix and suffix as-is, the middle aligned by longest common
    /// subsequence when small enough.
    static func alignedEdits(_ expected: [String], _ actual: [String]) -> [Edit] {
        var prefix = 0
        while prefix < expected.count, prefix < actual.count, expected[prefix] == actual[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < expected.count - prefix, suffix < actual.count - prefix,
            expected[expected.count - 1 - suffix] == actual[actual.count - 1 - suffix]
        {
            suffix += 1
        }

        var edits: [Edit] = (0..<prefix).map { .same(expected[$0], expectedLine: $0 + 1, actualLine: $0 + 1) }
        let expectedMiddle = Array(expected[prefix..<(expected.count - suffix)])
        let actualMiddle = Array(actual[prefix..<(actual.count - suffix)])
        edits += middleEdits(expectedMiddle, actualMiddle, firstLine: prefix + 1)
        let expectedSuffixStart = expected.count - suffix
        let actualSuffixStart = actual.count - suffix
        edits += (0..<suffix).map {
            .same(expected[expectedSuffixStart + $0], expectedLine: expectedSuffixStart + $0 + 1, actualLine: actualSuffixStart + $0 + 1)
        }
        return edits
    }

    private static func middleEdits(_ expected: [String], _ actual: [String], firstLine: Int) -> [Edit] {
        let removedAll = expected.enumerated().map { Edit.removed($0.element, line: firstLine + $0.offset) }
        let addedAll = actual.enumerated().map { Edit.added($0.element, line: firstLine + $0.offset) }
        guard !expected.isEmpty, !actual.isEmpty, expected.count * actual.count <= alignmentLimit else {
            return removedAll + addedAll
        }

        // common[i][j] = length of the longest common subsequence of expected[i...] and actual[j...].
        let width = actual.count + 1
        var common = [Int](repeating: 0, count: (expected.count + 1) * width)
        for i in stride(from: expected.count - 1, through: 0, by: -1) {
            for j in stride(from: actual.count - 1, through: 0, by: -1) {
                common[i * width + j] = expected[i] == actual[j]
                    ? common[(i + 1) * width + j + 1] + 1
                    : max(common[(i + 1) * width + j], common[i * width + j + 1])
            }
        }
        var edits: [Edit] = []
        var i = 0
        var j = 0
        while i < expected.count || j < actual.count {
            if i < expected.count, j < actual.count, expected[i] == actual[j] {
                edits.append(.same(expected[i], expectedLine: firstLine + i, actualLine: firstLine + j))
                i += 1
                j += 1
            } else if i < expected.count, j == actual.count || common[(i + 1) * width + j] >= common[i * width + j + 1] {
                // On a tie, removals come first: "- old" above "+ new" reads like a replacement.
                edits.append(.removed(expected[i], line: firstLine + i))
                i += 1
            } else {
                edits.append(.added(actual[j], line: firstLine + j))
                j += 1
            }
        }
        return edits
    }

    /// Changes with their context; long unchanged runs between changes collapse to "…".
    private static func render(_ edits: [Edit], numberWidth width: Int) -> [String] {
        func numbered(_ marker: String, _ line: Int, _ text: String) -> String {
            let number = String(line)
            return "\(marker) \(String(repeating: " ", count: max(0, width - number.count)))\(number) | \(text)"
        }

        let changed = edits.indices.filter {
            if case .same = edits[$0] { return false }
            return true
        }
        var shown = Set<Int>()
        for index in changed {
            let low = max(0, index - contextLines)
            let high = min(edits.count - 1, index + contextLines)
            shown.formUnion(low...high)
        }

        var lines: [String] = []
        var previous: Int?
        for index in shown.sorted() {
            if let previous, index > previous + 1 {
                lines.append("  \(String(repeating: " ", count: width)) … \(index - previous - 1) unchanged lines")
            }
            switch edits[index] {
            case .same(let text, let expectedLine, _): lines.append(numbered(" ", expectedLine, text))
            case .removed(let text, let line): lines.append(numbered("-", line, text))
            case .added(let text, let line): lines.append(numbered("+", line, text))
            }
            previous = index
        }
        return lines
    }
}
