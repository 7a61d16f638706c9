import SDNModel

/// One input file's text and what it describes. Reading files is the caller's job (the CLI, the daemon,
/// a test), which keeps this module free of I/O.
public struct ConfigDocument: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case topology, policy
    }

    /// The path shown in diagnostics.
    public var path: String
    public var text: String
    /// What the file describes. When nil, the document's own `kind:` key decides, then its top-level
    /// keys (`cluster`, `groups`, `aliases`, `ipsets` mean policy).
    public var kind: Kind?

    /// The largest file read: a configuration is text written by people or tools, and a bigger file is
    /// a mistake (or an attack) that would otherwise be read whole into memory.
    public static let maximumFileSize = 64 << 20
    /// The most text read for one command, all files together.
    public static let maximumTotalSize = 256 << 20

    public init(path: String, text: String, kind: Kind? = nil) {
        self.path = path
        self.text = text
        self.kind = kind
    }

    /// The text's lines as YAML counts them (a line ends at LF, CR LF, CR, NEL, LS or PS), so that line N
    /// of a diagnostic is element N - 1, without its line break.
    public static func lines(of text: String) -> [Substring] {
        // "\r\n" is one Character, so splitting at "\n" alone would leave a CR LF file in one piece.
        text.split(omittingEmptySubsequences: false) { character in
            character == "\n" || character == "\r\n" || character == "\r" || character == "\u{85}" || character == "\u{2028}" || character == "\u{2029}"
        }
    }

    /// The kind implied by a path: files under a `Policies/` directory are policy, under `Topologies/`
    /// topology; anything else is decided by the document itself.
    public static func kind(impliedBy path: String) -> Kind? {
        let components = path.split(separator: "/").dropLast().map { $0.lowercased() }
        if components.contains("policies") { return .policy }
        if components.contains("topologies") { return .topology }
        return nil
    }
}
