/// A line-based unified diff between two sets of documents, as `diff -u` / `git diff` print it: per changed
/// path a `--- a/path` / `+++ b/path` header (`/dev/null` for an added or removed document) and hunks with
/// three lines of context. Paths are listed in byte order, so the same two sets always give the same text.
///
/// Lines are compared as bytes including their terminator, so a CRLF line differs from an LF one and a last
/// line without a newline differs from one with (`\ No newline at end of file`, as GNU diff marks it).
///
/// The alignment is Myers' greedy algorithm after stripping the common prefix and suffix; its memory grows
/// with the square of the number of changed lines, so above `maximumChangedLines` a document's diff is a
/// one-line summary instead.
public enum UnifiedDiff {
    public static let contextLines = 3
    /// Per document: more inserted plus removed lines than this are summarised, not aligned.
    public static let maximumChangedLines = 2_000

    /// The diff from `old` to `new` (empty when every document is byte for byte the same).
    public static func between(old: [StoredDocument], new: [StoredDocument]) -> String {
        // A path given twice keeps its last text, as writing the files in order would.
        let oldTexts = Dictionary(old.map { ($0.path, $0.text) }, uniquingKeysWith: { _, last in last })
        let newTexts = Dictionary(new.map { ($0.path, $0.text) }, uniquingKeysWith: { _, last in last })
        let paths = Set(oldTexts.keys).union(newTexts.keys).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var output = ""
        for path in paths {
            output += file(path: path, old: oldTexts[path], new: newTexts[path])
        }
        return output
    }

    /// The diff of one document; nil `old` or `new` means it was added or removed. Empty when unchanged.
    public static func file(path: String, old: String?, new: String?) -> String {
        if let old, let new, old.utf8.elementsEqual(new.utf8) { return "" }
        let oldLines = lines(old ?? "")
        let newLines = lines(new ?? "")
        let header = "--- \(old == nil ? "/dev/null" : "a/" + path)\n+++ \(new == nil ? "/dev/null" : "b/" + path)\n"

        // Same lines as numbers, so that the alignment compares integers.
        var identifiers: [ArraySlice<UInt8>: Int] = [:]
        func intern(_ line: ArraySlice<UInt8>) -> Int {
            if let id = identifiers[line] { return id }
            identifiers[line] = identifiers.count
            return identifiers.count - 1
        }
        let oldInterned = oldLines.map(intern)
        let newInterned = newLines.map(intern)

        guard let edits = align(oldInterned, newInterned) else {
            let removed = oldLines.count, added = newLines.count
            return header + "# too many changes to show line by line (\(removed) lines before, \(added) after)\n"
        }
        // An added or removed empty document has no lines, but its header still says it came or went.
        return header + render(edits, oldLines: oldLines, newLines: newLines)
    }

    // MARK: - Lines

    /// Each line with its terminating LF (the last may have none); an empty text has no lines.
    static func lines(_ text: String) -> [ArraySlice<UInt8>] {
        let bytes = Array(text.utf8)
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            result.append(bytes[start...index])
            start = index + 1
        }
        if start < bytes.count { result.append(bytes[start...]) }
        return result
    }

    // MARK: - Alignment

    enum Edit: Equatable {
        case equal(old: Int, new: Int)
        case delete(old: Int)
        case insert(new: Int)
    }

    /// The edit script turning `old` into `new`, or nil when it needs more than `maximumChangedLines`
    /// insertions and deletions.
    static func align(_ old: [Int], _ new: [Int]) -> [Edit]? {
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix, old[old.count - 1 - suffix] == new[new.count - 1 - suffix] {
            suffix += 1
        }
        let oldMiddle = Array(old[prefix..<(old.count - suffix)])
        let newMiddle = Array(new[prefix..<(new.count - suffix)])
        guard let middle = myers(oldMiddle, newMiddle, limit: maximumChangedLines) else { return nil }

        var edits = (0..<prefix).map { Edit.equal(old: $0, new: $0) }
        for edit in middle {
            switch edit {
            case .equal(let o, let n): edits.append(.equal(old: o + prefix, new: n + prefix))
            case .delete(let o): edits.append(.delete(old: o + prefix))
            case .insert(let n): edits.append(.insert(new: n + prefix))
            }
        }
        for offset in 0..<suffix {
            edits.append(.equal(old: old.count - suffix + offset, new: new.count - suffix + offset))
        }
        return edits
    }

    /// Myers' O((N+M)·D) greedy alignment, keeping each round's frontier (O(D²) memory) to trace the path back.
    static func myers(_ a: [Int], _ b: [Int], limit: Int) -> [Edit]? {
        let n = a.count, m = b.count
        if n + m > 0, a.isEmpty || b.isEmpty {
            guard n + m <= limit else { return nil }
            return a.indices.map { Edit.delete(old: $0) } + b.indices.map { Edit.insert(new: $0) }
        }
        let maximum = min(n + m, limit)
        let offset = maximum + 1
        var frontier = [Int](repeating: 0, count: 2 * maximum + 3)
        // trace[d] holds the frontier for diagonals -d-1...d+1 before round d.
        var trace: [[Int]] = []
        var found: Int?
        search: for d in 0...maximum {
            trace.append(Array(frontier[(offset - d - 1)...(offset + d + 1)]))
            for k in stride(from: -d, through: d, by: 2) {
                var x: Int
                if k == -d || (k != d && frontier[offset + k - 1] < frontier[offset + k + 1]) {
                    x = frontier[offset + k + 1]
                } else {
                    x = frontier[offset + k - 1] + 1
                }
                var y = x - k
                while x < n, y < m, a[x] == b[y] { x += 1; y += 1 }
                frontier[offset + k] = x
                if x >= n, y >= m { found = d; break search }
            }
        }
        guard let distance = found else { return nil }

        var edits: [Edit] = []
        var x = n, y = m
        for d in stride(from: distance, to: 0, by: -1) {
            let saved = trace[d]
            let value = { (k: Int) in saved[k + d + 1] }
            let k = x - y
            let previousK = (k == -d || (k != d && value(k - 1) < value(k + 1))) ? k + 1 : k - 1
            let previousX = value(previousK)
            let previousY = previousX - previousK
            while x > previousX, y > previousY {
                x -= 1; y -= 1
                edits.append(.equal(old: x, new: y))
            }
            if x == previousX { edits.append(.insert(new: y - 1)) } else { edits.append(.delete(old: x - 1)) }
            x = previousX
            y = previousY
        }
        while x > 0, y > 0 {
            x -= 1; y -= 1
            edits.append(.equal(old: x, new: y))
        }
        return edits.reversed()
    }

    // MARK: - Hunks

    static func render(_ edits: [Edit], oldLines: [ArraySlice<UInt8>], newLines: [ArraySlice<UInt8>]) -> String {
        let changed = edits.indices.filter { if case .equal = edits[$0] { false } else { true } }
        guard !changed.isEmpty else { return "" }

        // Changes with at most twice the context of unchanged lines between them share a hunk.
        var groups: [ClosedRange<Int>] = []
        for index in changed {
            if let last = groups.last, index - last.upperBound - 1 <= 2 * contextLines {
                groups[groups.count - 1] = last.lowerBound...index
            } else {
                groups.append(index...index)
            }
        }

        // Lines of each file before each edit, for the hunk headers.
        var oldBefore: [Int] = [], newBefore: [Int] = []
        var oldPosition = 0, newPosition = 0
        for edit in edits {
            oldBefore.append(oldPosition)
            newBefore.append(newPosition)
            switch edit {
            case .equal: oldPosition += 1; newPosition += 1
            case .delete: oldPosition += 1
            case .insert: newPosition += 1
            }
        }

        var output = ""
        for group in groups {
            let start = max(0, group.lowerBound - contextLines)
            let end = min(edits.count - 1, group.upperBound + contextLines)
            var oldCount = 0, newCount = 0
            var body = ""
            for edit in edits[start...end] {
                switch edit {
                case .equal(let o, _):
                    oldCount += 1; newCount += 1
                    body += line(" ", oldLines[o])
                case .delete(let o):
                    oldCount += 1
                    body += line("-", oldLines[o])
                case .insert(let n):
                    newCount += 1
                    body += line("+", newLines[n])
                }
            }
            // Unified diff numbers lines from 1; an empty range names the line before it (0 at the top).
            let oldRange = "\(oldCount == 0 ? oldBefore[start] : oldBefore[start] + 1),\(oldCount)"
            let newRange = "\(newCount == 0 ? newBefore[start] : newBefore[start] + 1),\(newCount)"
            output += "@@ -\(oldRange) +\(newRange) @@\n" + body
        }
        return output
    }

    private static func line(_ marker: String, _ bytes: ArraySlice<UInt8>) -> String {
        if bytes.last == 0x0A { return marker + String(decoding: bytes, as: UTF8.self) }
        return marker + String(decoding: bytes, as: UTF8.self) + "\n\\ No newline at end of file\n"
    }
}
