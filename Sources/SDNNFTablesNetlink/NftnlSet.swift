internal import CNFTNL

/// Owns a libnftnl set object (and the elements added to it).
final class NftnlSet {
    let pointer: OpaquePointer

    init() throws(NFTNetlinkError) {
        pointer = try withErrno("nftnl_set_alloc") { nftnl_set_alloc() }
    }

    /// A set naming only its table and name (and the batch-local id of a set created in the same
    /// batch): the head of element messages, deletions and dump requests.
    convenience init(family: UInt8, table: String, name: String, id: UInt32? = nil) throws(NFTNetlinkError) {
        try self.init()
        nftnl_set_set_u32(pointer, Nftnl.attribute(NFTNL_SET_FAMILY), UInt32(family))
        _ = nftnl_set_set_str(pointer, Nftnl.attribute(NFTNL_SET_TABLE), table)
        _ = nftnl_set_set_str(pointer, Nftnl.attribute(NFTNL_SET_NAME), name)
        if let id { nftnl_set_set_u32(pointer, Nftnl.attribute(NFTNL_SET_ID), id) }
    }

    /// The full description of `set` for NFT_MSG_NEWSET (elements are sent separately).
    convenience init(family: UInt8, table: String, set: KernelSet, id: UInt32) throws(NFTNetlinkError) {
        try self.init(family: family, table: table, name: set.name, id: id)
        func u32(_ attribute: nftnl_set_attr, _ value: UInt32) { nftnl_set_set_u32(pointer, Nftnl.attribute(attribute), value) }
        u32(NFTNL_SET_FLAGS, set.flags)
        u32(NFTNL_SET_KEY_TYPE, set.keyType)
        u32(NFTNL_SET_KEY_LEN, set.keyLength)
        if let type = set.dataType { u32(NFTNL_SET_DATA_TYPE, type) }
        if let length = set.dataLength { u32(NFTNL_SET_DATA_LEN, length) }
        if let size = set.descriptionSize { u32(NFTNL_SET_DESC_SIZE, size) }
        if let fields = set.concatFieldLengths {
            // libnftnl takes the concatenation's field lengths as bytes.
            let lengths = fields.map { UInt8(truncatingIfNeeded: $0) }
            lengths.withUnsafeBytes { _ = nftnl_set_set_data(pointer, Nftnl.attribute(NFTNL_SET_DESC_CONCAT), $0.baseAddress, UInt32(lengths.count)) }
        }
        if !set.userdata.isEmpty {
            Nftnl.withBytes(set.userdata) { _ = nftnl_set_set_data(pointer, Nftnl.attribute(NFTNL_SET_USERDATA), $0, $1) }
        }
    }

    deinit { nftnl_set_free(pointer) }

    /// Adds elements (the set owns them afterwards).
    func add(_ elements: some Sequence<KernelElement>) throws(NFTNetlinkError) {
        for element in elements {
            let e = try withErrno("nftnl_set_elem_alloc") { nftnl_set_elem_alloc() }
            func data(_ attribute: Int, _ bytes: [UInt8]) {
                Nftnl.withBytes(bytes) { _ = nftnl_set_elem_set(e, Nftnl.attribute(attribute), $0, $1) }
            }
            data(NFTNL_SET_ELEM_KEY, element.key)
            if let end = element.keyEnd { data(NFTNL_SET_ELEM_KEY_END, end) }
            if element.flags != 0 { nftnl_set_elem_set_u32(e, Nftnl.attribute(NFTNL_SET_ELEM_FLAGS), element.flags) }
            if let verdict = element.verdict {
                nftnl_set_elem_set_u32(e, Nftnl.attribute(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: verdict.code))
                if let chain = verdict.chain { _ = nftnl_set_elem_set_str(e, Nftnl.attribute(NFTNL_SET_ELEM_CHAIN), chain) }
            }
            if let value = element.data { data(NFTNL_SET_ELEM_DATA, value) }
            if let userdata = element.userdata { data(NFTNL_SET_ELEM_USERDATA, userdata) }
            nftnl_set_elem_add(pointer, e)
        }
    }

    private func string(_ attribute: nftnl_set_attr) -> String {
        nftnl_set_get_str(pointer, Nftnl.attribute(attribute)).map { String(cString: $0) } ?? ""
    }

    private func optional(_ attribute: nftnl_set_attr) -> UInt32? {
        nftnl_set_is_set(pointer, Nftnl.attribute(attribute)) ? nftnl_set_get_u32(pointer, Nftnl.attribute(attribute)) : nil
    }

    var table: String { string(NFTNL_SET_TABLE) }
    var name: String { string(NFTNL_SET_NAME) }

    /// The set as plain values (elements included when they were parsed into it).
    var value: KernelSet {
        var length: UInt32 = 0
        let userdata = nftnl_set_is_set(pointer, Nftnl.attribute(NFTNL_SET_USERDATA))
            ? Nftnl.bytes(nftnl_set_get_data(pointer, Nftnl.attribute(NFTNL_SET_USERDATA), &length), length: length) : []
        var fields: [UInt32]?
        if nftnl_set_is_set(pointer, Nftnl.attribute(NFTNL_SET_DESC_CONCAT)) {
            var count: UInt32 = 0
            let pointer = nftnl_set_get_data(pointer, Nftnl.attribute(NFTNL_SET_DESC_CONCAT), &count)
            fields = Nftnl.bytes(pointer, length: count).map(UInt32.init)
        }
        return KernelSet(
            name: name, flags: optional(NFTNL_SET_FLAGS) ?? 0, keyType: optional(NFTNL_SET_KEY_TYPE) ?? 0,
            keyLength: optional(NFTNL_SET_KEY_LEN) ?? 0, dataType: optional(NFTNL_SET_DATA_TYPE), dataLength: optional(NFTNL_SET_DATA_LEN),
            userdata: userdata, descriptionSize: optional(NFTNL_SET_DESC_SIZE), concatFieldLengths: fields, elements: elements
        )
    }

    var elements: [KernelElement] {
        guard let iterator = nftnl_set_elems_iter_create(pointer) else { return [] }
        defer { nftnl_set_elems_iter_destroy(iterator) }
        var result: [KernelElement] = []
        // `nftnl_set_elems_iter_next` returns the current element and then advances.
        while let e = nftnl_set_elems_iter_next(iterator) {
            func has(_ attribute: Int) -> Bool { nftnl_set_elem_is_set(e, Nftnl.attribute(attribute)) }
            func data(_ attribute: Int) -> [UInt8]? {
                guard has(attribute) else { return nil }
                var length: UInt32 = 0
                return Nftnl.bytes(nftnl_set_elem_get(e, Nftnl.attribute(attribute), &length), length: length)
            }
            var element = KernelElement(key: data(NFTNL_SET_ELEM_KEY) ?? [])
            element.keyEnd = data(NFTNL_SET_ELEM_KEY_END)
            if has(NFTNL_SET_ELEM_FLAGS) { element.flags = nftnl_set_elem_get_u32(e, Nftnl.attribute(NFTNL_SET_ELEM_FLAGS)) }
            if has(NFTNL_SET_ELEM_VERDICT) {
                let chain = has(NFTNL_SET_ELEM_CHAIN) ? nftnl_set_elem_get_str(e, Nftnl.attribute(NFTNL_SET_ELEM_CHAIN)).map { String(cString: $0) } : nil
                element.verdict = KernelVerdict(code: Int32(bitPattern: nftnl_set_elem_get_u32(e, Nftnl.attribute(NFTNL_SET_ELEM_VERDICT))), chain: chain)
            }
            element.data = data(NFTNL_SET_ELEM_DATA)
            element.userdata = data(NFTNL_SET_ELEM_USERDATA)
            result.append(element)
        }
        return result
    }
}
