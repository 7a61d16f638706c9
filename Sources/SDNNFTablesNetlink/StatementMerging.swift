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
        var slots: [NFTStatement?] = statements
        var run: [Int] = []
        for (index, statement) in statements.enumerated() {
            switch statement {
            case .match(let match):
                if isCandidate(match) { run.append(index) }
            case .vmap:
                // An expression statement that is not a relational match: nft skips it.
                continue
            default:
                if run.count >= 2 {
                    mergeRun(run, in: &slots)
                    run = []
                }
            }
        }
        if run.count >= 2 { mergeRun(run, in: &slots) }
        return slots.compactMap { $0 }
    }

    private static func isCandidate(_ match: Match) -> Bool {
        guard match.op == .equal, case .value = match.right else { return false }
        switch match.left {
        case .field(let field): if case .payload = field.source { return true } else { return false }
        case .merged: return true
        default: return false
        }
    }

    private struct Location {
        var layer: ProtocolHeader.Layer
        var offset: UInt32
        var length: UInt32
    }

    private static func location(_ left: Match.Left) -> Location? {
        let fields = left.fields
        guard case .payload(let layer, let offset) = fields.first?.source else { return nil }
        return Location(layer: layer, offset: offset, length: UInt32(fields.reduce(0) { $0 + $1.length }))
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
    private static func canMerge(_ first: Location, _ second: Location) -> Bool {
        guard first.layer == second.layer, first.offset + first.length == second.offset else { return false }
        let total = first.length + second.length
        guard total <= 16 else { return false }
        return total <= 4 || first.layer == .link || first.length > 4 || second.length > 4
    }

    private static func mergeRun(_ run: [Int], in slots: inout [NFTStatement?]) {
        // nft sorts the run by (base, offset) with qsort; offsets within a rule are distinct in practice.
        let sorted = run.sorted { lhs, rhs in
            guard case .match(let a)? = slots[lhs], case .match(let b)? = slots[rhs], let la = location(a.left), let lb = location(b.left) else { return lhs < rhs }
            return (la.layer.rawValue, la.offset, lhs) < (lb.layer.rawValue, lb.offset, rhs)
        }
        var last = sorted[0]
        for this in sorted.dropFirst() {
            guard case .match(let lastMatch)? = slots[last], case .match(let thisMatch)? = slots[this],
                  let lastLocation = location(lastMatch.left), let thisLocation = location(thisMatch.left),
                  canMerge(lastLocation, thisLocation),
                  case .value(let lastBytes) = lastMatch.right, case .value(let thisBytes) = thisMatch.right
            else {
                last = this
                continue
            }
            let protocolFlag = isProtocol(thisMatch.left)
            let merged = Match(left: .merged(lastMatch.left.fields + thisMatch.left.fields, isProtocol: protocolFlag), op: .equal, right: .value(lastBytes + thisBytes))
            if isProtocol(thisMatch.left) {
                // The statement carrying the protocol field keeps its place, so the dependency still comes
                // before what depends on it.
                slots[this] = .match(merged)
                slots[last] = nil
                last = this
            } else {
                slots[last] = .match(merged)
                slots[this] = nil
            }
        }
    }
}
