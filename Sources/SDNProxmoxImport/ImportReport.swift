public import SDNModel

/// What the importer did with the input lines that do not map one to one: where each is, what it meant
/// in Proxmox, what `sdn` does instead (or that it dropped it), and why.
public struct ImportReport: Sendable, Hashable {
    public struct Entry: Sendable, Hashable, Comparable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            /// Carried over with a different form or a documented difference in behaviour.
            case changed
            /// Lost: the imported configuration does not do what this line did.
            case dropped
            /// Not `sdn`'s business: the host keeps doing it (a default route, a DNS server, …).
            case leftToHost = "left-to-host"
        }

        public var location: SourceLocation
        public var kind: Kind
        /// The input as written (one line, or the part of it this entry is about).
        public var input: String
        /// What it does in Proxmox.
        public var meaning: String
        /// What the import does instead.
        public var action: String
        /// Why.
        public var reason: String

        public init(location: SourceLocation, kind: Kind, input: String, meaning: String, action: String, reason: String) {
            self.location = location
            self.kind = kind
            self.input = input
            self.meaning = meaning
            self.action = action
            self.reason = reason
        }

        public static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.location, lhs.kind.rawValue, lhs.input) < (rhs.location, rhs.kind.rawValue, rhs.input)
        }

        public var description: String {
            "\(location): \(kind.rawValue): \(input)\n  proxmox: \(meaning)\n  sdn: \(action)\n  why: \(reason)"
        }
    }

    public var entries: [Entry] = []
    /// Syntax errors and other problems with the input, each located.
    public var diagnostics: [Diagnostic] = []
    /// Files of the tree that were not read (not networking), by path.
    public var skippedFiles: [String] = []

    public init() {}

    public var dropped: [Entry] { entries.filter { $0.kind == .dropped } }

    /// Whether `--check` fails: something was dropped, or some input could not be read.
    public var losesSomething: Bool { !dropped.isEmpty || diagnostics.hasErrors }

    /// The report as text: diagnostics, then entries in file order, then a summary.
    public var text: String {
        var output = ""
        for diagnostic in diagnostics.sortedForDisplay() { output += diagnostic.description + "\n" }
        if !diagnostics.isEmpty { output += "\n" }
        for entry in entries.sorted() { output += entry.description + "\n" }
        if !skippedFiles.isEmpty {
            output += "\nnot read (not networking): " + skippedFiles.sorted().joined(separator: ", ") + "\n"
        }
        let counts = Entry.Kind.allCases.map { kind in "\(entries.filter { $0.kind == kind }.count) \(kind.rawValue)" }
        output += "\nsummary: \(counts.joined(separator: ", ")), \(diagnostics.errors.count) error\(diagnostics.errors.count == 1 ? "" : "s")\n"
        return output
    }
}

/// Which input lines the importer accounted for, and how: the proof that nothing is silently lost.
public struct LineLedger: Sendable, Hashable {
    public enum Disposition: String, Sendable, Hashable {
        /// Blank, a comment, or a section header that only structures the file.
        case structure
        /// Mapped one to one into the output.
        case mapped
        /// Has a report entry (changed, dropped or left to the host).
        case reported
        /// Has an error diagnostic.
        case error
        /// Outside what the importer is about (a VM's disks, memory, snapshots): read and skipped.
        case outOfScope = "out-of-scope"
    }

    /// Per file, per 1-based line number.
    public private(set) var lines: [String: [Int: Disposition]] = [:]

    public init() {}

    /// Records how a line was handled. A report or an error wins over a plain mapping, so a line that
    /// mapped partly and dropped a part counts as reported.
    mutating func mark(_ file: String, _ line: Int, _ disposition: Disposition) {
        let rank: [Disposition: Int] = [.structure: 0, .outOfScope: 1, .mapped: 2, .reported: 3, .error: 4]
        if let existing = lines[file]?[line], rank[existing]! >= rank[disposition]! { return }
        lines[file, default: [:]][line] = disposition
    }

    mutating func mark(_ line: SourceLine, _ disposition: Disposition) { mark(line.file, line.number, disposition) }

    public func disposition(file: String, line: Int) -> Disposition? { lines[file]?[line] }

    /// Lines of the given files that nobody accounted for (should always be empty).
    public func unaccounted(in tree: ProxmoxTree) -> [SourceLocation] {
        var missing: [SourceLocation] = []
        for path in tree.files.keys.sorted() {
            for line in SourceLine.lines(of: tree.files[path]!, file: path) where lines[path]?[line.number] == nil {
                missing.append(line.location)
            }
        }
        return missing
    }

    /// How many lines have each disposition.
    public var counts: [Disposition: Int] {
        var counts: [Disposition: Int] = [:]
        for file in lines.values { for disposition in file.values { counts[disposition, default: 0] += 1 } }
        return counts
    }
}

/// The report and the ledger, filled together: every report entry or diagnostic accounts for its line.
struct Accounting {
    var report = ImportReport()
    var ledger = LineLedger()

    mutating func structure(_ line: SourceLine) { ledger.mark(line, .structure) }
    mutating func mapped(_ line: SourceLine) { ledger.mark(line, .mapped) }
    mutating func outOfScope(_ line: SourceLine) { ledger.mark(line, .outOfScope) }

    mutating func note(_ kind: ImportReport.Entry.Kind, at location: SourceLocation, input: String, meaning: String, action: String, reason: String) {
        report.entries.append(.init(location: location, kind: kind, input: input, meaning: meaning, action: action, reason: reason))
        ledger.mark(location.file, location.line, .reported)
    }

    mutating func dropped(_ line: SourceLine, input: Substring? = nil, meaning: String, reason: String, action: String = "dropped") {
        note(.dropped, at: input.map { line.location(of: $0) } ?? line.location, input: String(input ?? line.text), meaning: meaning, action: action, reason: reason)
    }

    mutating func changed(_ line: SourceLine, input: Substring? = nil, meaning: String, action: String, reason: String) {
        note(.changed, at: input.map { line.location(of: $0) } ?? line.location, input: String(input ?? line.text), meaning: meaning, action: action, reason: reason)
    }

    mutating func leftToHost(_ line: SourceLine, input: Substring? = nil, meaning: String, reason: String) {
        note(.leftToHost, at: input.map { line.location(of: $0) } ?? line.location, input: String(input ?? line.text), meaning: meaning,
             action: "not imported; the host keeps it", reason: reason)
    }

    /// An error at a place in a line: the line could not be read, and what it said is lost.
    mutating func error(_ code: DiagnosticCode, _ message: String, at location: SourceLocation, hint: String? = nil) {
        report.diagnostics.append(.error(code, message, at: location, path: "", hint: hint))
        ledger.mark(location.file, location.line, .error)
    }

    mutating func warning(_ code: DiagnosticCode, _ message: String, at location: SourceLocation, hint: String? = nil) {
        report.diagnostics.append(.warning(code, message, at: location, path: "", hint: hint))
    }
}
