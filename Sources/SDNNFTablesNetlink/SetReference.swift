/// How a lookup names its set: by name (a named set, or a dumped anonymous set `__set3`), or by its
/// position among the anonymous sets of the rule being encoded.
enum SetReference: Hashable, Sendable {
    case named(String)
    case anonymous(Int)
}
