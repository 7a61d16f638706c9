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

    public init(path: String, text: String, kind: Kind? = nil) {
        self.path = path
        self.text = text
        self.kind = kind
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
