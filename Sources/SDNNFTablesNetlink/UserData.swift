/// libnftnl's userdata TLVs (`nftnl_udata`): one byte type, one byte length, the value; integers in host
/// byte order. Rules keep their comment here, sets their key byte order and key description.
struct UserData: Hashable, Sendable {
    private(set) var bytes: [UInt8] = []

    mutating func put(_ type: UInt8, _ value: [UInt8]) {
        bytes.append(type)
        bytes.append(UInt8(value.count))
        bytes += value
    }

    mutating func put(_ type: UInt8, _ value: UInt32) {
        put(type, ValueKind.hostOrder(UInt64(value), length: 4))
    }

    mutating func put(_ type: UInt8, nested: UserData) {
        put(type, nested.bytes)
    }

    /// The TLVs of `bytes`, or nil if they do not parse.
    static func parse(_ bytes: [UInt8]) -> [(type: UInt8, value: [UInt8])]? {
        var result: [(UInt8, [UInt8])] = []
        var index = 0
        while index < bytes.count {
            guard index + 2 <= bytes.count else { return nil }
            let length = Int(bytes[index + 1])
            guard index + 2 + length <= bytes.count else { return nil }
            result.append((bytes[index], Array(bytes[(index + 2)..<(index + 2 + length)])))
            index += 2 + length
        }
        return result
    }

    // Type numbers from libnftnl's udata.h.
    static let ruleComment: UInt8 = 0
    static let setKeyByteOrder: UInt8 = 0
    static let setDataByteOrder: UInt8 = 1
    static let setMergeElements: UInt8 = 2
    static let setKeyTypeof: UInt8 = 3
    static let setDataInterval: UInt8 = 6
    static let elementFlags: UInt8 = 1
    /// `NFTNL_SET_ELEM_F_INTERVAL_OPEN`: an interval running to the end of the key space.
    static let elementIntervalOpen: UInt32 = 1

    /// A rule's comment as nft stores it: `NFTNL_UDATA_RULE_COMMENT`, NUL-terminated.
    static func ruleComment(_ text: String) -> [UInt8] {
        var data = UserData()
        data.put(ruleComment, Array(text.utf8) + [0])
        return data.bytes
    }

    /// The comment of a rule's userdata, if there is one.
    static func ruleComment(in bytes: [UInt8]) -> String? {
        guard let value = parse(bytes)?.first(where: { $0.type == ruleComment })?.value else { return nil }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }
}
