import SDNNFTables

/// nft's `payload_try_merge` (src/rule.c, nft 1.0.6): equality matches on adjacent payload fields of one
/// header become one load and one compare (`tcp sport 1 tcp dport 2` → a 4-byte load), ordered by offset.
///
/// Reproduced with its quirks, because the kernel ruleset must equal nft's: a non-match statement only
/// ends a run when the run already has two candidates; a protocol field (`ether type`) keeps its place and
/// absorbs the field before it. One deliberate difference: nft 1.0.6 also merges two `!=` matches, which
/// changes their meaning (`sport != 1 and dport != 2` becomes `(sport, dport) != (1, 2)`; fixed in later
/// nft); we never merge `!=`.
enum StatementMerging {
    static func merge(_ statements: [NFTStatement]) -> [NFTStatement] {
        var runs: [[Candidate]] = []
        var run: [Candidate] = []
        for (index, statement) in statements.enumerated() {
            switch statement {
            case .match(let match):
                if let candidate = candidate(match, at: index) { run.append(candidate) }
            case .vmap:
                // An expression statement that is not a relational match: nft skips it.
                continue
            default:
                if run.count >= 2 {
                    runs.append(run)
                    run = []
                }
            }
        }
        if run.count >= 2 { runs.append(run) }
        // Most rules have no two adjacent candidates: leave them untouched.
        guard runs.contains(where: hasMergeablePair) else { return statements }
        var slots = statements.map { Optional($0) }
        for run in runs { mergeRun(run, in: &slots) }
        return slots.compactMap { $0 }
    }

    /// A statement that may merge: an equality with a value on a payload field (or merged fields).
    private struct Candidate {
        var index: Int
        var layer: Field.PayloadBase
        var offset: UInt32
        var length: UInt32
    }

    private static func candidate(_ match: Match, at index: Int) -> Candidate? {
        guard match.op == .equal, case .value = match.right else { return nil }
        let fields: [Field]
        switch match.left {
        case .field(let field): fields = [field]
        case .merged(let merged, _): fields = merged
        default: return nil
        }
        guard case .payload(let layer, let offset) = fields[0].source else { return nil }
        return Candidate(index: index, layer: layer, offset: offset, length: UInt32(fields.reduce(0) { $0 + $1.length }))
    }

    private static func sortedByLocation(_ run: [Candidate]) -> [Candidate] {
        // nft sorts the run by (base, offset) with qsort; offsets within a rule are distinct in practice.
        run.sorted { ($0.layer.rawValue, $0.offset, $0.index) < ($1.layer.rawValue, $1.offset, $1.index) }
    }

    private static func hasMergeablePair(_ run: [Candidate]) -> Bool {
        let sorted = sortedByLocation(run)
        return zip(sorted, sorted.dropFirst()).contains { canMerge($0, $1) }
    }

    private static func isProtocol(_ left: Match.Left) -> Bool {
        switch left {
        case .field(let field): field.isProtocolKey
        case .merged(_, let isProtocol): isProtocol
        default: false
        }
    }

    /// nft's `payload_can_merge`: adjacent, at most one register, and worth it (still a fast 32-bit load,
    /// or a link-layer load, or one part already longer than 32 bits).
    private static func canMerge(_ first: Candidate, _ second: Candidate) -> Bool {
        guard first.layer == second.layer, first.offset + first.length == second.offset else { return false }
        let total = first.length + second.length
        guard total <= 16 else { return false }
        return total <= 4 || first.layer == .link || first.length > 4 || second.length > 4
    }

    private static func mergeRun(_ run: [Candidate], in slots: inout [NFTStatement?]) {
        let sorted = sortedByLocation(run)
        var last = sorted[0]
        for this in sorted.dropFirst() {
            guard canMerge(last, this), case .match(let lastMatch)? = slots[last.index], case .match(let thisMatch)? = slots[this.index],
                  case .value(let lastBytes) = lastMatch.right, case .value(let thisBytes) = thisMatch.right
            else {
                last = this
                continue
            }
            let merged = Match(left: .merged(lastMatch.left.fields + thisMatch.left.fields, isProtocol: isProtocol(thisMatch.left)),
                               op: .equal, right: .value(lastBytes + thisBytes))
            let combined = Candidate(index: last.index, layer: last.layer, offset: last.offset, length: last.length + this.length)
            if isProtocol(thisMatch.left) {
                // The statement carrying the protocol field keeps its place, so the dependency still comes
                // before what depends on it.
                slots[this.index] = .match(merged)
                slots[last.index] = nil
                last = Candidate(index: this.index, layer: combined.layer, offset: combined.offset, length: combined.length)
            } else {
                slots[last.index] = .match(merged)
                slots[this.index] = nil
                last = combined
            }
        }
    }
}
