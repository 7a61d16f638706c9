import SDNStore
import Testing

@Suite struct UnifiedDiffTests {
    @Test func changedLineWithThreeLinesOfContext() {
        let old = (1...10).map { "l\($0)\n" }.joined()
        let new = old.replacingOccurrences(of: "l5\n", with: "L5\n")
        #expect(UnifiedDiff.file(path: "f.yaml", old: old, new: new) == """
            --- a/f.yaml
            +++ b/f.yaml
            @@ -2,7 +2,7 @@
             l2
             l3
             l4
            -l5
            +L5
             l6
             l7
             l8

            """)
    }

    @Test func changesFarApartMakeTwoHunksAndCloseOnesOne() {
        let old = (1...20).map { "l\($0)\n" }.joined()
        let far = old.replacingOccurrences(of: "l2\n", with: "x\n").replacingOccurrences(of: "l18\n", with: "y\n")
        #expect(UnifiedDiff.file(path: "f", old: old, new: far).components(separatedBy: "\n@@ -").count - 1 == 2)
        #expect(UnifiedDiff.file(path: "f", old: old, new: far).contains("@@ -1,5 +1,5 @@\n l1\n-l2\n+x\n"))
        #expect(UnifiedDiff.file(path: "f", old: old, new: far).contains("@@ -15,6 +15,6 @@\n"))
        // Six unchanged lines between two changes: the contexts touch, one hunk; seven: two.
        let close = old.replacingOccurrences(of: "l5\n", with: "x\n").replacingOccurrences(of: "l12\n", with: "y\n")
        #expect(UnifiedDiff.file(path: "f", old: old, new: close).contains("@@ -2,14 +2,14 @@\n"))
        #expect(UnifiedDiff.file(path: "f", old: old, new: close).components(separatedBy: "\n@@ -").count - 1 == 1)
        let apart = old.replacingOccurrences(of: "l5\n", with: "x\n").replacingOccurrences(of: "l13\n", with: "y\n")
        #expect(UnifiedDiff.file(path: "f", old: old, new: apart).components(separatedBy: "\n@@ -").count - 1 == 2)
    }

    @Test func insertionAtTheTopAndDeletionAtTheEnd() {
        #expect(UnifiedDiff.file(path: "f", old: "a\nb\n", new: "x\na\nb\n") == "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n+x\n a\n b\n")
        #expect(UnifiedDiff.file(path: "f", old: "a\nb\n", new: "a\n") == "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n a\n-b\n")
        #expect(UnifiedDiff.file(path: "f", old: "a\n", new: "") == "--- a/f\n+++ b/f\n@@ -1,1 +0,0 @@\n-a\n")
    }

    @Test func missingFinalNewlineIsMarked() {
        #expect(UnifiedDiff.file(path: "f", old: "a\nb", new: "a\nc") == """
            --- a/f
            +++ b/f
            @@ -1,2 +1,2 @@
             a
            -b
            \\ No newline at end of file
            +c
            \\ No newline at end of file

            """)
        #expect(UnifiedDiff.file(path: "f", old: "a", new: "a\n") == "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+a\n")
    }

    @Test func lineEndingsAreCompared() {
        #expect(UnifiedDiff.file(path: "f", old: "a\r\nb\r\n", new: "a\r\nb\n") == "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+b\n")
        // Canonically equal but different bytes is a change too.
        #expect(UnifiedDiff.file(path: "f", old: "caf\u{E9}\n", new: "cafe\u{301}\n") != "")
    }

    @Test func addedAndRemovedDocumentsAgainstDevNull() {
        let diff = UnifiedDiff.between(
            old: [StoredDocument(path: "gone.yaml", text: "x: 1\n"), StoredDocument(path: "same.yaml", text: "s\n")],
            new: [StoredDocument(path: "same.yaml", text: "s\n"), StoredDocument(path: "new.yaml", text: "y: 2\n"),
                  StoredDocument(path: "empty.yaml", text: "")]
        )
        #expect(diff == """
            --- /dev/null
            +++ b/empty.yaml
            --- a/gone.yaml
            +++ /dev/null
            @@ -1,1 +0,0 @@
            -x: 1
            --- /dev/null
            +++ b/new.yaml
            @@ -0,0 +1,1 @@
            +y: 2

            """)
        #expect(UnifiedDiff.between(old: [StoredDocument(path: "a", text: "1\n")], new: [StoredDocument(path: "a", text: "1\n")]) == "")
    }

    @Test func tooManyChangesGiveASummary() {
        let old = (0..<3000).map { "old \($0)\n" }.joined()
        let new = (0..<3000).map { "new \($0)\n" }.joined()
        #expect(UnifiedDiff.file(path: "big.yaml", old: old, new: new)
            == "--- a/big.yaml\n+++ b/big.yaml\n# too many changes to show line by line (3000 lines before, 3000 after)\n")
    }

    @Test func fewChangesInAHugeDocumentAreAligned() {
        let old = (0..<200_000).map { "line \($0)\n" }.joined()
        let new = old.replacingOccurrences(of: "line 1000\n", with: "changed\n").replacingOccurrences(of: "line 150000\n", with: "")
        let diff = UnifiedDiff.file(path: "huge", old: old, new: new)
        #expect(diff.contains("-line 1000\n+changed\n"))
        #expect(diff.contains("-line 150000\n"))
        #expect(diff.split(separator: "\n").count == 2 + 1 + 8 + 1 + 7)
    }

    /// Random small texts: applying the diff to the old text gives the new one, and the diff is minimal
    /// (as many changed lines as the longest common subsequence leaves).
    @Test func randomDiffsApplyAndAreMinimal() throws {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<500 {
            let old = randomText(&generator), new = randomText(&generator)
            let diff = UnifiedDiff.file(path: "f", old: old, new: new)
            if old == new { #expect(diff == ""); continue }
            let patched = try apply(diff, to: old)
            #expect(Array(patched.utf8) == Array(new.utf8), "old: \(old.debugDescription) new: \(new.debugDescription)\n\(diff)")
            let changed = diff.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { ($0.hasPrefix("-") && !$0.hasPrefix("--- ")) || ($0.hasPrefix("+") && !$0.hasPrefix("+++ ")) }.count
            let oldLines = lines(old), newLines = lines(new)
            #expect(changed == oldLines.count + newLines.count - 2 * longestCommonSubsequence(oldLines, newLines))
        }
    }

    private func randomText(_ generator: inout SplitMix64) -> String {
        let count = Int(generator.next() % 12)
        var text = (0..<count).map { _ in ["a", "b", "c", "d"][Int(generator.next() % 4)] + "\n" }.joined()
        if !text.isEmpty, generator.next() % 4 == 0 { text.removeLast() }
        return text
    }

    private func lines(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        for scalar in text.unicodeScalars {
            current.unicodeScalars.append(scalar)
            if scalar == "\n" { result.append(current); current = "" }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    private func longestCommonSubsequence(_ a: [String], _ b: [String]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        return table[0][0]
    }

    struct PatchError: Error { var message: String }

    /// A strict `patch`: context and removed lines must match the old text exactly.
    private func apply(_ diff: String, to old: String) throws -> String {
        let oldLines = lines(old)
        var output: [String] = []
        var position = 0
        let diffLines = diff.components(separatedBy: "\n").dropLast()
        var index = 2
        while index < diffLines.count {
            let header = diffLines[index]
            guard header.hasPrefix("@@ -") else { throw PatchError(message: "expected a hunk header: \(header)") }
            let oldRange = header.dropFirst(4).prefix { $0 != " " }.split(separator: ",").map { Int($0)! }
            let start = oldRange[1] == 0 ? oldRange[0] : oldRange[0] - 1
            guard start >= position else { throw PatchError(message: "hunks out of order") }
            output += oldLines[position..<start]
            position = start
            index += 1
            while index < diffLines.count, !diffLines[index].hasPrefix("@@") {
                let line = diffLines[index]
                var content = String(line.dropFirst()) + "\n"
                if index + 1 < diffLines.count, diffLines[index + 1] == "\\ No newline at end of file" {
                    content.removeLast()
                    index += 1
                }
                switch line.first {
                case " ":
                    guard oldLines[position] == content else { throw PatchError(message: "context mismatch") }
                    output.append(content); position += 1
                case "-":
                    guard oldLines[position] == content else { throw PatchError(message: "removed line mismatch") }
                    position += 1
                case "+":
                    output.append(content)
                default:
                    throw PatchError(message: "unexpected line \(line)")
                }
                index += 1
            }
        }
        output += oldLines[position...]
        return output.joined()
    }
}

/// A seeded generator, so that a failure repeats.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
