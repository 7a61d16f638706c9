import SDNModel
import Yams

/// An ordered document tree, printable as YAML or JSON with keys in a fixed order, so `sdn show` output
/// is stable and diffable.
public indirect enum RenderedTree: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case list([RenderedTree])
    case map([(String, RenderedTree)])

    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.list(let a), .list(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The tree as YAML. Throws what the YAML emitter throws, never returns a silently empty document.
    public func yaml() throws -> String {
        try Yams.serialize(node: yamlNode(), indent: 2, width: -1, allowUnicode: true, sortKeys: false)
    }

    private func yamlNode() -> Yams.Node {
        switch self {
        case .string(let text): .scalar(.init(text))
        case .integer(let value): .scalar(.init(String(value)))
        case .number(let value): .scalar(.init(value.formattedForConfig))
        case .bool(let value): .scalar(.init(value ? "true" : "false"))
        case .list(let items):
            // Lists of scalars read best inline (`[a, b]`); lists of rules and mappings one per line.
            .sequence(.init(items.map { $0.yamlNode() }, .implicit, items.allSatisfy(\.isShortScalar) && !items.isEmpty ? .flow : .block))
        case .map(let pairs):
            .mapping(.init(pairs.map { (Yams.Node.scalar(.init($0.0)), $0.1.yamlNode()) }, .implicit, pairs.isEmpty ? .flow : .block))
        }
    }

    private var isShortScalar: Bool {
        switch self {
        case .string(let text): text.count < 40 && !text.contains(" ")
        case .integer, .number, .bool: true
        default: false
        }
    }

    public func json(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .string(let text): return text.jsonLiteral
        case .integer(let value): return String(value)
        case .number(let value): return value.formattedForConfig
        case .bool(let value): return value ? "true" : "false"
        case .list(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.json(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .map(let pairs):
            if pairs.isEmpty { return "{}" }
            return "{\n" + pairs.map { inner + $0.0.jsonLiteral + ": " + $0.1.json(indent: inner) }.joined(separator: ",\n") + "\n\(indent)}"
        }
    }
}

extension Double {
    var formattedForConfig: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
}

/// Why a text could not be read as a tree: what is wrong and where (a JSON pointer, empty for the whole text).
public struct TreeReadError: Error, Sendable, Hashable {
    public var message: String
    public var pointer: String

    public init(message: String, pointer: String) {
        self.message = message
        self.pointer = pointer
    }
}

extension RenderedTree {
    /// Reads a JSON (or YAML) value as a tree, keeping the order of object members: the order in which a
    /// client writes a guest's NICs or a vnet's subnets is the order they are stored in. Quoted scalars
    /// are strings; plain ones are booleans, integers or numbers. A `null` member means "not set" and is
    /// left out; a `null` list item is an error. Returns nil for an empty text.
    public static func read(_ text: String) throws(TreeReadError) -> RenderedTree? {
        // A JSON text has no aliases; a YAML one could expand to billions of nodes, so it is measured
        // first (aliases within the loader's budget are expanded).
        guard case .withinBudget = AliasBudget.check(text) else {
            throw TreeReadError(message: "the text is not a plain JSON value (it has YAML aliases or does not parse)", pointer: "")
        }
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw TreeReadError(message: StateMerger.syntaxDiagnostic(error, file: "body", text: text).message, pointer: "")
        }
        guard let node else { return nil }
        return try tree(node, pointer: "")
    }

    private static func tree(_ node: Yams.Node, pointer: String) throws(TreeReadError) -> RenderedTree? {
        func escaped(_ key: String) -> String { key.replacing("~", with: "~0").replacing("/", with: "~1") }
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .plain else { return .string(scalar.string) }
            switch scalar.string {
            case "null", "~", "": return nil
            case "true": return .bool(true)
            case "false": return .bool(false)
            default:
                if let value = Int(scalar.string) { return .integer(value) }
                if let value = Double(scalar.string), value.isFinite { return .number(value) }
                return .string(scalar.string)
            }
        case .sequence(let sequence):
            var items: [RenderedTree] = []
            for (index, item) in sequence.enumerated() {
                guard let value = try tree(item, pointer: pointer + "/\(index)") else {
                    throw TreeReadError(message: "a list item is null; leave it out", pointer: pointer + "/\(index)")
                }
                items.append(value)
            }
            return .list(items)
        case .mapping(let mapping):
            var pairs: [(String, RenderedTree)] = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw TreeReadError(message: "a key is not a string", pointer: pointer)
                }
                if let converted = try tree(value, pointer: pointer + "/" + escaped(keyScalar.string)) {
                    pairs.append((keyScalar.string, converted))
                }
            }
            return .map(pairs)
        case .alias:
            throw TreeReadError(message: "YAML aliases are not read here; write the value out", pointer: pointer)
        }
    }
}
