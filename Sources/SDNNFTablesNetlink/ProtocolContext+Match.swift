import SDNNFTables

/// The protocol context (SDNNFTables' ``ProtocolContext``) in the encoder's terms: dependencies as
/// matches on wire bytes, learning from lowered matches.
extension ProtocolContext {
    /// The matches nft inserts before a payload match on `header`, applied to the context.
    mutating func dependencies(for header: ProtocolHeader) throws(NFTNetlinkError) -> [Match] {
        do {
            return try dependencies(of: header).map { dependency in
                let key = dependency.field
                let bytes = key.kind.isHostOrderOnWire ? ValueKind.hostOrder(dependency.number, length: key.length) : ValueKind.bigEndian(dependency.number, length: key.length)
                return Match(left: .field(key), op: .equal, right: .value(bytes))
            }
        } catch {
            throw .unsupported(error.message)
        }
    }

    /// What an `==` match on a protocol key teaches about the next layer: a single value, or each
    /// element of an anonymous set in turn (the last one wins, as in nft 1.0.6).
    mutating func update(after match: Match) {
        guard match.op == .equal, case .field(let field) = match.left, field.isProtocolKey else { return }
        func number(_ bytes: [UInt8]) -> UInt64 {
            field.kind.isHostOrderOnWire ? ValueKind.number(hostOrder: bytes) : ValueKind.number(bigEndian: bytes)
        }
        switch match.right {
        case .value(let bytes):
            learn(field, equals: number(bytes))
        case .anonymousSet(let set) where set.flags & KernelSet.interval == 0:
            for element in set.elements { learn(field, equals: number(element.key)) }
        default:
            break
        }
    }
}

extension ProtocolHeader {
    /// Fields of this header by offset, for splitting loads that nft merged.
    var fields: [Field] { Field.byHeader[self] ?? [] }
}
