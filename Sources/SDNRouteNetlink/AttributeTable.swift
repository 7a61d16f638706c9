import SDNModel
internal import CNLRoute

/// The attributes of one netlink message (or nested attribute), indexed by type with libnl's `nla_parse`.
///
/// Borrowed: the pointers point into the receive buffer and are valid only while the message being
/// decoded is (the callback of a dump or request). Values are copied out by the accessors.
struct AttributeTable {
    private var slots: [UnsafeMutablePointer<nlattr>?]

    /// The attributes after a message's family header of `headerLength` bytes.
    init(message: UnsafePointer<nlmsghdr>, headerLength: Int, maxType: some BinaryInteger) {
        let start = nlmsg_attrdata(message, Int32(headerLength))
        let length = nlmsg_attrlen(message, Int32(headerLength))
        self.init(start: start, length: Int(length), maxType: Int(maxType))
    }

    /// The attributes nested in `attribute`.
    init(nested attribute: UnsafeMutablePointer<nlattr>, maxType: some BinaryInteger) {
        self.init(start: nla_data(attribute).assumingMemoryBound(to: nlattr.self), length: Int(nla_len(attribute)), maxType: Int(maxType))
    }

    private init(start: UnsafeMutablePointer<nlattr>?, length: Int, maxType: Int) {
        slots = Array(repeating: nil, count: maxType + 1)
        guard let start, length > 0 else { return }
        // Without a policy nla_parse only fails on malformed lengths; keep what was read up to there.
        _ = slots.withUnsafeMutableBufferPointer { table in
            nla_parse(table.baseAddress, Int32(maxType), start, Int32(length), nil)
        }
    }

    subscript(type: some BinaryInteger) -> UnsafeMutablePointer<nlattr>? {
        let index = Int(type)
        return index < slots.count ? slots[index] : nil
    }

    func has(_ type: some BinaryInteger) -> Bool { self[type] != nil }

    func u8(_ type: some BinaryInteger) -> UInt8? {
        guard let attribute = self[type], nla_len(attribute) >= 1 else { return nil }
        return nla_get_u8(attribute)
    }

    func u16(_ type: some BinaryInteger) -> UInt16? {
        guard let attribute = self[type], nla_len(attribute) >= 2 else { return nil }
        return nla_get_u16(attribute)
    }

    /// A 16-bit value sent in network byte order.
    func be16(_ type: some BinaryInteger) -> UInt16? {
        u16(type).map { UInt16(bigEndian: $0) }
    }

    func u32(_ type: some BinaryInteger) -> UInt32? {
        guard let attribute = self[type], nla_len(attribute) >= 4 else { return nil }
        return nla_get_u32(attribute)
    }

    func int32(_ type: some BinaryInteger) -> Int32? {
        u32(type).map { Int32(bitPattern: $0) }
    }

    func string(_ type: some BinaryInteger) -> String? {
        guard let attribute = self[type] else { return nil }
        return Self.string(attribute)
    }

    func bytes(_ type: some BinaryInteger) -> [UInt8]? {
        guard let attribute = self[type] else { return nil }
        return Self.bytes(attribute)
    }

    func address(_ type: some BinaryInteger) -> IPAddress? {
        bytes(type).flatMap { IPAddress(networkBytes: $0) }
    }

    func mac(_ type: some BinaryInteger) -> MACAddress? {
        guard let bytes = bytes(type), bytes.count == 6 else { return nil }
        return MACAddress(octets: bytes)
    }

    func nested(_ type: some BinaryInteger, maxType: some BinaryInteger) -> AttributeTable? {
        guard let attribute = self[type] else { return nil }
        return AttributeTable(nested: attribute, maxType: maxType)
    }

    // MARK: - Single attributes

    static func bytes(_ attribute: UnsafeMutablePointer<nlattr>) -> [UInt8] {
        let length = Int(nla_len(attribute))
        guard length > 0, let data = nla_data(attribute) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: length))
    }

    /// A NUL-terminated (or unterminated) string attribute.
    static func string(_ attribute: UnsafeMutablePointer<nlattr>) -> String {
        let length = Int(nla_len(attribute))
        guard length > 0, let data = nla_data(attribute) else { return "" }
        let buffer = UnsafeRawBufferPointer(start: data, count: length)
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Calls `body` with the type and pointer of each attribute nested in `attribute`, in order, including
    /// repeated types (which the table keeps only the last of).
    static func forEach(in attribute: UnsafeMutablePointer<nlattr>, _ body: (Int, UnsafeMutablePointer<nlattr>) -> Void) {
        var remaining = nla_len(attribute)
        guard var current = nla_data(attribute)?.assumingMemoryBound(to: nlattr.self) else { return }
        while nla_ok(current, remaining) != 0 {
            body(Int(nla_type(current)), current)
            guard let next = nla_next(current, &remaining) else { return }
            current = next
        }
    }

    /// The fixed family header (`ifinfomsg`, ...) at the start of a message's payload.
    static func header<Header>(_ type: Header.Type, of message: UnsafePointer<nlmsghdr>) -> Header? {
        guard Int(nlmsg_datalen(message)) >= MemoryLayout<Header>.size, let data = nlmsg_data(message) else { return nil }
        return data.loadUnaligned(as: Header.self)
    }
}
