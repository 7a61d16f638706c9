import SDNNFTables

/// `left op right`, with the right side already in wire bytes.
struct Match: Hashable, Sendable {
    enum Left: Hashable, Sendable {
        case field(Field)
        case concat([Field])
        /// `field & mask` (an explicit bitwise and, e.g. `tcp flags & (fin|syn)`).
        case masked(Field, mask: [UInt8])
        /// Adjacent payload fields nft merged into one load (`tcp sport 1 tcp dport 2`); `fields` are the
        /// merged fields in offset order; `isProtocol` carries nft's EXPR_F_PROTOCOL through merges.
        case merged([Field], isProtocol: Bool)

        var fields: [Field] {
            switch self {
            case .field(let field), .masked(let field, _): [field]
            case .concat(let fields), .merged(let fields, _): fields
            }
        }
    }

    enum Right: Hashable, Sendable {
        case value([UInt8])
        /// An address prefix: the full-length network bytes and the prefix length in bits.
        case prefix([UInt8], bits: Int)
        case range([UInt8], [UInt8])
        /// An interface name pattern `eth*`: the bytes before the `*`.
        case wildcard([UInt8])
        /// An implicit flag test (`ct state established,related`): some bit of the mask is set.
        case flagTest([UInt8])
        /// An anonymous set; the set travels with the rule.
        case anonymousSet(KernelSet)
        case namedSet(String)
    }

    enum Operator: Hashable, Sendable {
        case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
    }

    var left: Left
    var op: Operator
    var right: Right
}
