/// A place in an input file: 1-based line and column (columns count Unicode scalars, as libyaml does).
public struct SourceLocation: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The same place moved `offset` columns to the right (used for positions inside a one-line rule).
    public func advanced(by offset: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column + offset)
    }

    public var description: String { "\(file):\(line):\(column)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column) }
}

/// One finding about the input: where, what, and how to fix it.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible, Codable {
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        case error, warning, note
        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    }

    public var severity: Severity
    /// Which check found it, e.g. `duplicate-name`, so tools can filter.
    public var code: DiagnosticCode
    public var message: String
    public var location: SourceLocation?
    /// The key path inside the document, e.g. `vnets.web.subnets[0].gateway`.
    public var path: String
    public var hint: String?
    /// Other places that matter, e.g. the first definition of a duplicate.
    public var related: [SourceLocation]

    public init(
        _ severity: Severity, code: DiagnosticCode, _ message: String, at location: SourceLocation?, path: String,
        hint: String? = nil, related: [SourceLocation] = []
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.location = location
        self.path = path
        self.hint = hint
        self.related = related
    }

    public static func error(_ code: DiagnosticCode, _ message: String, at location: SourceLocation?, path: String, hint: String? = nil, related: [SourceLocation] = []) -> Diagnostic {
        Diagnostic(.error, code: code, message, at: location, path: path, hint: hint, related: related)
    }

    public static func warning(_ code: DiagnosticCode, _ message: String, at location: SourceLocation?, path: String, hint: String? = nil, related: [SourceLocation] = []) -> Diagnostic {
        Diagnostic(.warning, code: code, message, at: location, path: path, hint: hint, related: related)
    }

    /// `file:line:col: error: message [path] (code)` followed by indented hint and related lines.
    public var description: String {
        var text = "\(location.map { "\($0): " } ?? "")\(severity.rawValue): \(message)"
        if !path.isEmpty { text += " [\(path)]" }
        text += " (\(code))"
        if let hint { text += "\n  hint: \(hint)" }
        for place in related { text += "\n  see: \(place)" }
        return text
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }

    /// Diagnostics in reading order: by file, line, column, then severity and message.
    public func sortedForDisplay() -> [Diagnostic] {
        sorted { a, b in
            switch (a.location, b.location) {
            case let (x?, y?) where x != y: return x < y
            case (nil, _?): return false
            case (_?, nil): return true
            default: return (a.severity, a.message) < (b.severity, b.message)
            }
        }
    }
}

/// A value that has passed validation. Only `Validator` can make one: later stages (compiler, planner,
/// reconciler) accept nothing else, so "did anybody validate this?" is answered by the type checker.
public struct Validated<Value: Sendable>: Sendable {
    public let value: Value
    /// Warnings and notes found during validation (errors would have prevented this value).
    public let diagnostics: [Diagnostic]

    package init(unchecked value: Value, diagnostics: [Diagnostic]) {
        self.value = value
        self.diagnostics = diagnostics
    }
}
