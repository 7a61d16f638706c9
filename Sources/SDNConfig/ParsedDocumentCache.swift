public import SDNModel
import Synchronization

/// One configuration document read on its own: what merging it adds to the state, with its findings, in
/// the order they were found. Reading a document depends on its path, kind and text alone.
struct ParsedDocument: Sendable {
    enum Step: Sendable {
        case findings([Diagnostic])
        case definitions(DesiredState, SourceMap, unreadable: Set<ConfigPath>, findings: [Diagnostic])
    }

    var steps: [Step]
}

/// The documents of the last load, parsed, kept by path, kind and text.
///
/// Every node of a cluster loads each new revision of the whole site from its documents. A change edits
/// one file or a few (the importer writes a file per guest policy), so the rest parse to what they parsed
/// to last time; YAML parsing is most of a load (1.6 s of a 1,000-guest site). Only the documents the
/// last load used are kept: the memory is that of one parsed site.
public final class ParsedDocumentCache: Sendable {
    private struct State {
        var entries: [ConfigDocument: ParsedDocument] = [:]
        var hits = 0
        var misses = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Documents taken from the cache and documents parsed, since the cache was made.
    public var statistics: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }

    /// The documents parsed, from the cache where it has them; afterwards the cache holds these only.
    func parsed(_ documents: [ConfigDocument]) -> [ParsedDocument] {
        let known = state.withLock { state in documents.map { state.entries[$0] } }
        // Parsed outside the lock: two loads at once each parse what neither found.
        let parsed = zip(documents, known).map { document, known in known ?? StateMerger.parse(document) }
        state.withLock { state in
            let hits = known.count(where: { $0 != nil })
            state.hits += hits
            state.misses += documents.count - hits
            state.entries = Dictionary(zip(documents, parsed), uniquingKeysWith: { first, _ in first })
        }
        return parsed
    }
}
