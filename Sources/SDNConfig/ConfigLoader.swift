public import SDNModel
import Yams

/// What loading produced: the merged (not yet validated) state and every diagnostic found on the way.
public struct LoadResult: Sendable {
    public var state: DesiredState
    public var diagnostics: [Diagnostic]
    /// Definitions that were written but could not be read (an error says why); validation does not
    /// report references to them as undefined a second time.
    public var unreadable: Set<ConfigPath> = []
}

/// Reads Topologies/ and Policies/ documents into one `DesiredState`. Never stops at the first problem:
/// every document is read as far as its syntax allows, and every problem comes back as a diagnostic.
public enum ConfigLoader {
    /// Parses and merges documents (in the order given; order matters only for which of two duplicate
    /// definitions is reported as the second).
    ///
    /// - Parameter cache: documents read by an earlier load with the same path and text are taken from it
    ///   instead of being parsed again (a node loading each new revision of a site parses only the files
    ///   that changed). The result is the same with or without it.
    public static func load(_ documents: [ConfigDocument], cache: ParsedDocumentCache? = nil) -> LoadResult {
        var merger = StateMerger()
        let parsed = cache?.parsed(documents) ?? documents.map(StateMerger.parse)
        for document in parsed {
            merger.add(document)
        }
        return LoadResult(state: merger.state, diagnostics: merger.diagnostics, unreadable: merger.unreadable)
    }

    /// Loads and validates in one step: the validated state when there are no errors, and all diagnostics.
    public static func loadAndValidate(_ documents: [ConfigDocument], cache: ParsedDocumentCache? = nil)
        -> (validated: Validated<DesiredState>?, diagnostics: [Diagnostic]) {
        validate(load(documents, cache: cache))
    }

    /// Validates what `load` read (for a caller that looked at the loaded state first).
    public static func validate(_ loaded: LoadResult) -> (validated: Validated<DesiredState>?, diagnostics: [Diagnostic]) {
        if loaded.diagnostics.hasErrors {
            // Still validate, so one run shows semantic problems too; a half-read file's gaps may cause
            // follow-on findings, which is acceptable next to the syntax errors that explain them.
            let outcome = loaded.state.validate(unreadable: loaded.unreadable)
            return (nil, (loaded.diagnostics + outcome.diagnostics).sortedForDisplay())
        }
        let outcome = loaded.state.validate(unreadable: loaded.unreadable)
        return (outcome.validated, (loaded.diagnostics + outcome.diagnostics).sortedForDisplay())
    }
}

/// Merges documents, catching names defined in more than one place (with both locations).
struct StateMerger {
    var state = DesiredState()
    var diagnostics: [Diagnostic] = []
    var unreadable: Set<ConfigPath> = []
    private var firstDefinition: [ConfigPath: SourceLocation] = [:]

    static let topologyKeys = ["kind", "nodes", "zones", "vnets", "guests"]
    static let policyKeys = ["kind", "cluster", "nodes", "vnets", "guests", "groups", "aliases", "ipsets"]

    /// Merges what one document defines, with its findings, in the order they were found.
    mutating func add(_ document: ParsedDocument) {
        for step in document.steps {
            switch step {
            case .findings(let found):
                diagnostics += found
            case .definitions(let parsed, let sources, let unreadableHere, let found):
                merge(parsed, sources: sources)
                unreadable.formUnion(unreadableHere)
                diagnostics += found
            }
        }
    }

    /// Reads one document on its own: pure, so that its result can be kept for the same path and text.
    static func parse(_ document: ConfigDocument) -> ParsedDocument {
        var steps: [ParsedDocument.Step] = []
        let start = SourceLocation(file: document.path, line: 1, column: 1)
        let size = document.text.utf8.count
        if size > ConfigDocument.maximumFileSize {
            steps.append(.findings([.error(.fileTooLarge, "the file is \(size) bytes; a configuration file has at most \(ConfigDocument.maximumFileSize >> 20) MiB",
                                           at: start, path: "", hint: "split it into several files")]))
            return ParsedDocument(steps: steps)
        }
        // Aliases are measured before the real parse, which could otherwise take exponential time.
        var documentLimit = Int.max
        var budgetError: Diagnostic?
        switch AliasBudget.check(document.text) {
        case .withinBudget:
            break
        case .exceeded(let line, let column, let anchor):
            steps.append(.findings([.error(.aliasExpansion, "YAML aliases in this file expand to more than \(AliasBudget.maximumAddedNodes) nodes (passed at *\(anchor))",
                                           at: SourceLocation(file: document.path, line: line, column: column), path: "",
                                           hint: "an alias (*name) repeats everything its anchor (&name) labels, and nested ones multiply; write the shared part out or share less")]))
            return ParsedDocument(steps: steps)
        case .syntaxError(let complete, let error, let copy, let mapColumn):
            documentLimit = complete
            var diagnostic = Self.syntaxDiagnostic(error, file: document.path, text: copy)
            func original(_ place: SourceLocation) -> SourceLocation {
                SourceLocation(file: place.file, line: place.line, column: mapColumn(place.line, place.column))
            }
            diagnostic.location = diagnostic.location.map(original)
            diagnostic.related = diagnostic.related.map(original)
            budgetError = diagnostic
        }
        var roots: [Yams.Node] = []
        do {
            // The sequence is lazy and keeps a parse error to itself: read it to the end, then ask.
            var sequence = try Yams.compose_all(yaml: document.text)
            while roots.count < documentLimit, let root = sequence.next() { roots.append(root) }
            if let error = sequence.error { throw error }
        } catch {
            // Documents before the broken one are still read.
            steps.append(.findings([Self.syntaxDiagnostic(error, file: document.path, text: document.text)]))
        }
        if let budgetError { steps.append(.findings([budgetError])) }
        let lines = roots.isEmpty ? [] : ConfigDocument.lines(of: document.text)
        for root in roots {
            var reader = YAMLReader(file: document.path, lines: lines)
            guard let entries = reader.mapping(root, at: .topology, what: "a mapping of top-level sections") else {
                steps.append(.findings(reader.diagnostics))
                continue
            }
            var kind = document.kind
            if let kindEntry = entries.first(where: { $0.key == "kind" }) {
                if let declared: ConfigDocument.Kind = reader.enumeration(kindEntry.value, at: ConfigPath.topology / "kind", what: "document kind") {
                    if let implied = document.kind, implied != declared {
                        reader.warning(.kindMismatch, "document says kind: \(declared.rawValue) but sits in a \(implied == .policy ? "Policies" : "Topologies") directory", at: kindEntry.value, path: ConfigPath.topology / "kind")
                    }
                    kind = declared
                }
            }
            if kind == nil {
                kind = entries.contains(where: { ["cluster", "groups", "aliases", "ipsets"].contains($0.key) }) ? .policy : .topology
            }
            var parser = DocumentParser(reader: reader)
            if kind == .policy {
                parser.reader.sources = SourceMap()
                let policyEntries = parser.reader.mapping(root, at: .policy) ?? []
                parser.reader.checkKeys(policyEntries, allowed: Self.policyKeys, at: .policy, context: "a policy document")
                parser.parsePolicy(policyEntries)
            } else {
                parser.reader.checkKeys(entries, allowed: Self.topologyKeys, at: .topology, context: "a topology document")
                parser.parseTopology(entries)
            }
            steps.append(.definitions(parser.result, parser.reader.sources, unreadable: parser.unreadable, findings: parser.reader.diagnostics))
        }
        return ParsedDocument(steps: steps)
    }

    static func syntaxDiagnostic(_ error: any Error, file: String, text: String) -> Diagnostic {
        let hint = "check the indentation and quoting around this place; a value containing ': ' or starting with '@', '!' or '*' needs quotes"
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let message = "YAML syntax error: \(problem)" + (context.map { " (\($0.text) at line \($0.mark.line))" } ?? "")
            var location = SourceLocation(file: file, line: mark.line, column: mark.column)
            var specific: String?
            let lines = ConfigDocument.lines(of: text)
            /// The unquoted word starting at a place, to show how to quote it.
            func word(at place: SourceLocation) -> String? {
                guard place.line >= 1, place.line <= lines.count else { return nil }
                let word = lines[place.line - 1].unicodeScalars.dropFirst(place.column - 1).prefix { !" \t,]}#".unicodeScalars.contains($0) }
                return word.isEmpty ? nil : String(String.UnicodeScalarView(word))
            }
            if let context, context.text.contains("flow mapping") || context.text.contains("flow sequence") {
                // An unclosed `{` or `[` is reported where the parser gave up; say where it was opened.
                let (open, close) = context.text.contains("flow mapping") ? ("{", "}") : ("[", "]")
                specific = "the '\(open)' opened on line \(context.mark.line) is not closed; add '\(close)', or quote values containing ',', ':', '\(open)' or '\(close)'"
            } else if let context, context.text.contains("scanning a tag") || context.text.contains("scanning an alias") {
                // `!10.0.0.0/8` or `*x` unquoted: point at the '!' or '*', not where scanning stopped.
                location = SourceLocation(file: file, line: context.mark.line, column: context.mark.column)
                let indicator = context.text.contains("tag") ? "'!' starts a YAML tag" : "'*' starts a YAML alias"
                specific = "quote the value" + (word(at: location).map { ": \"\($0)\"" } ?? "") + " (an unquoted \(indicator))"
            } else if let found = word(at: location), found.hasPrefix("@") || found.hasPrefix("`") {
                specific = "quote the value: \"\(found)\" (YAML reserves '\(found.prefix(1))' at the start of a plain value)"
            }
            return .error(.yamlSyntax, message, at: location, path: "", hint: specific ?? hint)
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams marks the first occurrence; point at the repetition, and show the first as related.
            let first = SourceLocation(file: file, line: context.mark.line, column: context.mark.column)
            let repeated = duplicates.first.flatMap { repetition(of: $0, after: first, in: text) }
            return .error(.duplicateKey, "key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) appears more than once in one mapping",
                          at: repeated ?? first, path: "",
                          hint: "a key can appear once in a mapping (YAML does not merge them); remove or rename the second one",
                          related: repeated == nil ? [] : [first])
        case .reader(let problem, _, _, _):
            return .error(.yamlSyntax, "cannot read the file as YAML: \(problem)", at: SourceLocation(file: file, line: 1, column: 1), path: "")
        default:
            return .error(.yamlSyntax, "cannot read the file as YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1), path: "")
        }
    }

    /// The next line after `first` that starts with the same key in the same column (block mappings).
    static func repetition(of key: String, after first: SourceLocation, in text: String) -> SourceLocation? {
        let lines = ConfigDocument.lines(of: text)
        guard first.line >= 1, first.line < lines.count else { return nil }
        let spellings = [key, "\"\(key)\"", "'\(key)'"]
        for index in first.line..<lines.count {
            let line = lines[index]
            let indent = line.prefix { $0 == " " }.count
            if indent < first.column - 1 && !line.allSatisfy({ $0 == " " }) && !line.dropFirst(indent).hasPrefix("#") { return nil }
            guard indent == first.column - 1 else { continue }
            let rest = line.dropFirst(indent)
            if spellings.contains(where: { rest.hasPrefix($0 + ":") }) {
                return SourceLocation(file: first.file, line: index + 1, column: first.column)
            }
        }
        return nil
    }

    private mutating func claim(_ path: ConfigPath, sources: SourceMap, what: String, name: String) -> Bool {
        let location = sources.keyLocation(of: path)
        if let first = firstDefinition[path] {
            diagnostics.append(.error(.duplicateName, "\(what) '\(name)' is defined more than once", at: location, path: path.description,
                                      hint: "each \(what) is defined in one place; remove or rename this one", related: [first]))
            return false
        }
        firstDefinition[path] = location ?? SourceLocation(file: "?", line: 0, column: 0)
        return true
    }

    private mutating func merge(_ parsed: DesiredState, sources: SourceMap) {
        let topology = ConfigPath.topology, policy = ConfigPath.policy
        for node in parsed.nodes where claim(topology / "nodes" / node.name, sources: sources, what: "node", name: node.name) { state.nodes.append(node) }
        for zone in parsed.zones where claim(topology / "zones" / zone.name, sources: sources, what: "zone", name: zone.name) { state.zones.append(zone) }
        for vnet in parsed.vnets where claim(topology / "vnets" / vnet.name, sources: sources, what: "vnet", name: vnet.name) { state.vnets.append(vnet) }
        for guest in parsed.guests where claim(topology / "guests" / String(guest.id), sources: sources, what: "guest", name: String(guest.id)) { state.guests.append(guest) }

        let firewall = parsed.firewall
        for group in firewall.groups where claim(policy / "groups" / group.name, sources: sources, what: "security group", name: group.name) { state.firewall.groups.append(group) }
        for alias in firewall.aliases where claim(policy / "aliases" / alias.name, sources: sources, what: "alias", name: alias.name) { state.firewall.aliases.append(alias) }
        for set in firewall.ipsets where claim(policy / "ipsets" / set.name, sources: sources, what: "IP set", name: set.name) { state.firewall.ipsets.append(set) }
        if firewall.cluster != FirewallPolicy(scope: .cluster) {
            if claim(policy / "cluster", sources: sources, what: "policy", name: "cluster") { state.firewall.cluster = firewall.cluster }
        }
        for node in firewall.nodes where claim(policy / "nodes" / node.scope.key, sources: sources, what: "node policy", name: node.scope.key) { state.firewall.nodes.append(node) }
        for vnet in firewall.vnets where claim(policy / "vnets" / vnet.scope.key, sources: sources, what: "vnet policy", name: vnet.scope.key) { state.firewall.vnets.append(vnet) }
        for guest in firewall.guests where claim(policy / "guests" / guest.scope.key, sources: sources, what: "guest policy", name: guest.scope.key) { state.firewall.guests.append(guest) }
        state.sources.merge(sources)
    }
}

extension PolicyScope {
    /// The key the scope is written under in a policy document.
    var key: String {
        switch self {
        case .cluster: "cluster"
        case .node(let name): name
        case .vnet(let name): name
        case .guest(let id): String(id)
        }
    }
}
