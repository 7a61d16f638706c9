import SDNModel
import SDNNFTables

/// Named and anonymous sets in nft's wire form: key type and length, userdata, flags, and elements
/// (interval sets as start/end elements, interval concatenations with a closing key).
enum SetEncoding {
    /// `NFT_DATA_VERDICT`: a verdict map's data type.
    static let verdictDataType: UInt32 = 0xffff_ff00

    // MARK: - Keys

    /// A concatenation's type is its components' types folded six bits at a time (nft's `concat_type`).
    static func keyType(_ kinds: [ValueKind]) -> UInt32 {
        kinds.count == 1 ? kinds[0].typeID : kinds.reduce(UInt32(0)) { $0 << 6 | $1.typeID }
    }

    /// Each component of a concatenation occupies whole 32-bit registers.
    static func paddedLength(_ length: Int) -> Int { (length + 3) / 4 * 4 }

    static func keyLength(_ kinds: [ValueKind]) -> UInt32 {
        kinds.count == 1 ? UInt32(kinds[0].length) : UInt32(kinds.reduce(0) { $0 + paddedLength($1.length) })
    }

    /// The key kinds a set type stands for (the inverse of `keyType` and `keyLength`).
    static func kinds(keyType: UInt32, keyLength: UInt32) -> [ValueKind]? {
        let known: [ValueKind] = [.ipv4Address, .ipv6Address, .etherAddress, .interfaceName, .inetProtocol, .inetService, .mark,
                                  .icmpType, .icmpv6Type, .ctState, .etherType, .nfProtocol, .packetType, .arpOperation, .tcpFlags]
        var kinds: [ValueKind] = []
        var remaining = keyType
        while remaining != 0 {
            guard let kind = known.first(where: { $0.typeID == remaining & 0x3f }) else { return nil }
            kinds.insert(kind, at: 0)
            remaining >>= 6
        }
        guard !kinds.isEmpty, Self.keyLength(kinds) == keyLength else { return nil }
        return kinds
    }

    // MARK: - Named sets

    /// A named set or map, with its elements, as `nft -f` creates it.
    static func namedSet(_ set: NamedSet) throws(NFTNetlinkError) -> KernelSet {
        let kinds = try keyKinds(set)
        var flags: UInt32 = 0
        if set.flags.contains(.constant) { flags |= KernelSet.constant }
        if set.flags.contains(.interval) { flags |= KernelSet.interval }
        if set.flags.contains(.timeout) { flags |= KernelSet.timeout }
        if set.data != nil { flags |= KernelSet.map }
        if set.flags.contains(.interval) && kinds.count > 1 { flags |= KernelSet.concat }

        var dataKind: ValueKind?
        if let data = set.data {
            guard let kind = ValueKind(setKeyType: data) else { throw .unsupported("map data type \(data.rawValue)") }
            dataKind = kind
        }
        // Userdata in nft's order: key byte order, data byte order, key typeof, data interval.
        var userdata = UserData()
        userdata.put(UserData.setKeyByteOrder, kinds.count == 1 ? kinds[0].datatypeByteOrder : 0)
        if let dataKind { userdata.put(UserData.setDataByteOrder, dataKind.datatypeByteOrder) }
        if kinds.count > 1 {
            // nft records a typeof description for concatenated keys even when they were declared by type:
            // a concat expression with no component descriptions.
            var typeofData = UserData()
            typeofData.put(0, UInt32(13))
            typeofData.put(1, [])
            userdata.put(UserData.setKeyTypeof, nested: typeofData)
        }
        var dataType: UInt32?
        var dataLength: UInt32?
        if let dataKind {
            dataType = dataKind == .verdict ? verdictDataType : dataKind.typeID
            dataLength = UInt32(dataKind.length)
            userdata.put(UserData.setDataInterval, UInt32(0))
        }
        let elements = try elements(set.elements, of: set, creating: true, deleting: false)
        return KernelSet(
            name: set.name, flags: flags, keyType: keyType(kinds), keyLength: keyLength(kinds),
            dataType: dataType, dataLength: dataLength, userdata: userdata.bytes,
            // A constant set cannot grow, so nft sizes it to its elements.
            descriptionSize: set.flags.contains(.constant) ? sizeAsNftCounts(elements) : nil,
            concatFieldLengths: flags & KernelSet.concat != 0 ? kinds.map { UInt32($0.length) } : nil,
            elements: elements
        )
    }

    static func keyKinds(_ set: NamedSet) throws(NFTNetlinkError) -> [ValueKind] {
        var kinds: [ValueKind] = []
        for type in set.keyType {
            guard let kind = ValueKind(setKeyType: type), kind != .verdict else {
                throw .unsupported("set \(set.name): key type \(type.rawValue)")
            }
            kinds.append(kind)
        }
        guard !kinds.isEmpty else { throw .unsupported("set \(set.name) has no key type") }
        return kinds
    }

    /// Elements of a named set. A set created with its elements gets nft's leading interval end at zero;
    /// deletions carry keys (and interval ends) but no data.
    static func elements(_ elements: [SetElement], of set: NamedSet, creating: Bool, deleting: Bool) throws(NFTNetlinkError) -> [KernelElement] {
        let kinds = try keyKinds(set)
        let dataKind = set.data.flatMap(ValueKind.init(setKeyType:))
        let interval = set.flags.contains(.interval)
        var encoded: [(key: [KernelInterval], data: Value?)] = []
        for element in elements {
            guard element.key.count == kinds.count else {
                throw .unsupported("set \(set.name): element \(NFTTextRenderer.render(element: element)) has \(element.key.count) key parts, the set has \(kinds.count)")
            }
            var parts: [KernelInterval] = []
            for (value, kind) in zip(element.key, kinds) {
                let part = try KernelInterval(value, kind: kind)
                if !interval && !part.isSingle {
                    throw .unsupported("set \(set.name): \(NFTTextRenderer.render(value: value)) needs the interval flag")
                }
                parts.append(part)
            }
            if set.data != nil && !deleting && element.data == nil {
                throw .unsupported("map \(set.name): element \(NFTTextRenderer.render(element: element)) has no data")
            }
            encoded.append((parts, deleting ? nil : element.data))
        }

        func data(_ value: Value?) throws(NFTNetlinkError) -> (KernelVerdict?, [UInt8]?) {
            guard let value, let dataKind else { return (nil, nil) }
            if dataKind == .verdict {
                guard case .verdict(let verdict) = value else { throw .unsupported("map \(set.name): \(NFTTextRenderer.render(value: value)) is not a verdict") }
                return (KernelVerdict(verdict), nil)
            }
            return (nil, try dataKind.encode(value))
        }

        if !interval {
            var result: [KernelElement] = []
            for (parts, value) in encoded {
                let (verdict, bytes) = try data(value)
                result.append(KernelElement(key: concatenated(parts.map(\.low), kinds), verdict: verdict, data: bytes))
            }
            return result
        }
        if kinds.count > 1 {
            // Interval concatenations (pipapo): one element per range with a closing key, no sentinel.
            var result: [KernelElement] = []
            for (parts, value) in encoded {
                let (verdict, bytes) = try data(value)
                result.append(KernelElement(key: concatenated(parts.map(\.low), kinds), keyEnd: concatenated(parts.map(\.high), kinds), verdict: verdict, data: bytes))
            }
            return result
        }
        let sorted = encoded.sorted { $0.key[0].low.lexicographicallyPrecedes($1.key[0].low) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where !previous.key[0].high.lexicographicallyPrecedes(next.key[0].low) {
            throw .unsupported("set \(set.name): elements \(NFTTextRenderer.render(element: SetElement(key: [kinds[0].decode(previous.key[0].low) ?? .integer(0)]))) and \(NFTTextRenderer.render(element: SetElement(key: [kinds[0].decode(next.key[0].low) ?? .integer(0)]))) overlap")
        }
        var ranges: [(KernelInterval, KernelVerdict?, [UInt8]?)] = []
        for (parts, value) in sorted {
            let (verdict, bytes) = try data(value)
            ranges.append((parts[0], verdict, bytes))
        }
        return intervalElements(ranges, leadingEnd: creating && !deleting)
    }

    /// Start and end elements of sorted, disjoint ranges, as nft's segtree emits them: a range ending at the
    /// top of the key space has no end element but an "open" flag in its userdata.
    static func intervalElements(_ ranges: [(KernelInterval, KernelVerdict?, [UInt8]?)], leadingEnd: Bool) -> [KernelElement] {
        var result: [KernelElement] = []
        if leadingEnd, let first = ranges.first, !first.0.low.allSatisfy({ $0 == 0 }) {
            result.append(KernelElement(key: [UInt8](repeating: 0, count: first.0.low.count), flags: KernelElement.intervalEnd))
        }
        for (range, verdict, data) in ranges {
            var start = KernelElement(key: range.low, verdict: verdict, data: data)
            if let end = range.high.incremented() {
                result.append(start)
                result.append(KernelElement(key: end, flags: KernelElement.intervalEnd))
            } else {
                var userdata = UserData()
                userdata.put(UserData.elementFlags, UserData.elementIntervalOpen)
                start.userdata = userdata.bytes
                result.append(start)
            }
        }
        return result
    }

    static func concatenated(_ parts: [[UInt8]], _ kinds: [ValueKind]) -> [UInt8] {
        if kinds.count == 1 { return parts[0] }
        return parts.flatMap { $0 + [UInt8](repeating: 0, count: paddedLength($0.count) - $0.count) }
    }

    // MARK: - Anonymous sets

    /// The anonymous set nft creates for `field { a, b, c }`: constant, interval when any element is a
    /// prefix or range (then adjacent and overlapping ranges are merged), with its size and a typeof
    /// description of the matched field in its userdata.
    static func anonymousSet(for field: Field, values: [Value]) throws(NFTNetlinkError) -> KernelSet {
        var intervals: [KernelInterval] = []
        for value in values { intervals.append(try KernelInterval(value, kind: field.kind)) }
        let interval = intervals.contains { !$0.isSingle }
        var flags = KernelSet.anonymous | KernelSet.constant
        var elements: [KernelElement]
        if interval {
            flags |= KernelSet.interval
            guard field.kind.isBigEndian else { throw .unsupported("ranges of \(field.kind.name) values") }
            elements = intervalElements(KernelInterval.merged(intervals).map { ($0, nil, nil) }, leadingEnd: true)
        } else {
            elements = []
            var seen = Set<[UInt8]>()
            for part in intervals where seen.insert(part.low).inserted {
                elements.append(KernelElement(key: part.low))
            }
        }
        var userdata = UserData()
        userdata.put(UserData.setKeyByteOrder, field.expressionByteOrder)
        if interval { userdata.put(UserData.setMergeElements, UInt32(1)) }
        userdata.put(UserData.setKeyTypeof, nested: field.typeofUserData)
        return KernelSet(
            name: "__set%d", flags: flags, keyType: field.kind.typeID, keyLength: UInt32(field.length),
            dataType: nil, dataLength: nil, userdata: userdata.bytes, descriptionSize: sizeAsNftCounts(elements),
            concatFieldLengths: nil, elements: elements
        )
    }

    /// The size nft declares for a set it knows all elements of: the elements sent, plus the end of a
    /// range open to the top of the key space, which nft counts before leaving it out.
    static func sizeAsNftCounts(_ elements: [KernelElement]) -> UInt32 {
        let open = elements.contains { $0.userdata != nil && $0.flags & KernelElement.intervalEnd == 0 }
        return UInt32(elements.count + (open ? 1 : 0))
    }


    // MARK: - Decoding

    /// The IR elements of a dumped set: ranges rebuilt from start and end elements, each written the way
    /// the compiler writes it (single value, prefix, or range), sorted.
    static func decodeElements(_ set: KernelSet, kinds: [ValueKind], dataKind: ValueKind?) -> [SetElement]? {
        guard let elements = decodeUnsorted(set, kinds: kinds, dataKind: dataKind) else { return nil }
        return SetElement.sortedLikeKernel(elements)
    }

    private static func decodeUnsorted(_ set: KernelSet, kinds: [ValueKind], dataKind: ValueKind?) -> [(element: SetElement, bytes: [UInt8])]? {
        let interval = set.flags & KernelSet.interval != 0
        var result: [(element: SetElement, bytes: [UInt8])] = []
        func data(_ element: KernelElement) -> Value?? {
            guard let dataKind else { return .some(nil) }
            if dataKind == .verdict {
                guard let verdict = element.verdict?.irVerdict else { return nil }
                return .some(.verdict(verdict))
            }
            guard let bytes = element.data, let value = dataKind.decode(bytes) else { return nil }
            return .some(value)
        }
        if !interval || kinds.count > 1 {
            for element in set.elements {
                guard let lows = split(element.key, kinds) else { return nil }
                let highs = element.keyEnd.flatMap { split($0, kinds) } ?? lows
                var key: [Value] = []
                for (index, kind) in kinds.enumerated() {
                    guard let value = KernelInterval(low: lows[index], high: highs[index]).value(kind: kind) else { return nil }
                    key.append(value)
                }
                guard let value = data(element) else { return nil }
                result.append((SetElement(key: key, data: value), element.key))
            }
        } else {
            // Ends sort before starts of the same key: adjacent ranges share that key.
            let sorted = set.elements.sorted {
                $0.key == $1.key ? ($0.flags & KernelElement.intervalEnd) > ($1.flags & KernelElement.intervalEnd) : $0.key.lexicographicallyPrecedes($1.key)
            }
            var open: KernelElement?
            func close(_ start: KernelElement, _ high: [UInt8]) -> Bool {
                guard let value = KernelInterval(low: start.key, high: high).value(kind: kinds[0]), let dataValue = data(start) else { return false }
                result.append((SetElement(key: [value], data: dataValue), start.key))
                return true
            }
            for element in sorted {
                if element.flags & KernelElement.intervalEnd != 0 {
                    // An end without a start is nft's leading sentinel at zero.
                    guard let start = open else { continue }
                    guard let high = element.key.decremented(), close(start, high) else { return nil }
                    open = nil
                } else {
                    if let start = open, !close(start, [UInt8](repeating: 0xff, count: start.key.count)) { return nil }
                    open = element
                }
            }
            if let start = open, !close(start, [UInt8](repeating: 0xff, count: start.key.count)) { return nil }
        }
        return result
    }

    /// A concatenated key split into its padded components.
    static func split(_ key: [UInt8], _ kinds: [ValueKind]) -> [[UInt8]]? {
        if kinds.count == 1 { return key.count == kinds[0].length ? [key] : nil }
        var parts: [[UInt8]] = []
        var offset = 0
        for kind in kinds {
            guard offset + kind.length <= key.count else { return nil }
            parts.append(Array(key[offset..<(offset + kind.length)]))
            offset += paddedLength(kind.length)
        }
        return offset == key.count ? parts : nil
    }
}

extension Field {
    /// The byte order of the matched expression, which nft stores in an anonymous set's userdata
    /// (payload fields are in network order; meta and ct keys in host order, except `meta protocol`).
    var expressionByteOrder: UInt32 {
        switch source {
        case .payload: 2
        case .meta: name == "protocol" ? 2 : 1
        case .ct: 1
        }
    }

    /// nft's typeof description of the field (`NFTNL_UDATA_SET_KEY_TYPEOF`): expression type, then its
    /// own attributes (protocol description and template for payload, key for meta, key and direction for ct).
    var typeofUserData: UserData {
        var inner = UserData()
        var outer = UserData()
        switch source {
        case .payload:
            inner.put(0, header?.descriptionID ?? 0)
            inner.put(1, templateIndex)
            outer.put(0, UInt32(7))
        case .meta(let key):
            inner.put(0, key)
            outer.put(0, UInt32(9))
        case .ct(let key):
            inner.put(0, key)
            inner.put(1, UInt32.max)
            outer.put(0, UInt32(12))
        }
        outer.put(1, nested: inner)
        return outer
    }
}

extension KernelVerdict {
    init(_ verdict: Verdict) {
        switch verdict {
        case .accept: self.init(code: Self.accept)
        case .drop: self.init(code: Self.drop)
        case .continue: self.init(code: Self.continue)
        case .return: self.init(code: Self.return)
        case .jump(let chain): self.init(code: Self.jump, chain: chain)
        case .goto(let chain): self.init(code: Self.goto, chain: chain)
        }
    }

    var irVerdict: Verdict? {
        switch code {
        case Self.accept: .accept
        case Self.drop: .drop
        case Self.continue: .continue
        case Self.return: .return
        case Self.jump: chain.map(Verdict.jump)
        case Self.goto: chain.map(Verdict.goto)
        default: nil
        }
    }
}
