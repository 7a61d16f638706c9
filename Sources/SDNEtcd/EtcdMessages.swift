public import Foundation

// The v3 API's messages as etcd's JSON gateway writes them (etcd 3.4, grpc-gateway with the protos'
// field names): 64-bit integers are JSON strings, bytes are base64, and fields holding their zero value
// (0, false, empty) are left out.

/// One key as etcd holds it.
public struct EtcdKeyValue: Hashable, Sendable {
    public var key: Data
    public var value: Data
    /// The etcd revision that created the key (0: the key does not exist, in a comparison).
    public var createRevision: Int64
    /// The etcd revision of the key's last change: what a conditional write compares.
    public var modRevision: Int64
    /// How many times the key was written since it was created (1 after the create).
    public var version: Int64
    public var lease: Int64

    public var keyString: String { String(decoding: key, as: UTF8.self) }
}

/// What every response carries: the store's revision when it answered.
public struct EtcdResponseHeader: Hashable, Sendable {
    public var revision: Int64
}

public enum EtcdSortOrder: String, Encodable, Sendable {
    case none = "NONE", ascend = "ASCEND", descend = "DESCEND"
}

public enum EtcdSortTarget: String, Encodable, Sendable {
    case key = "KEY", version = "VERSION", create = "CREATE", mod = "MOD", value = "VALUE"
}

/// A read of one key, or of the keys in [key, rangeEnd).
public struct EtcdRangeRequest: Sendable {
    public var key: Data
    public var rangeEnd: Data?
    public var limit: Int64 = 0
    /// Read as of this etcd revision (0: the newest).
    public var revision: Int64 = 0
    public var sortOrder: EtcdSortOrder = .none
    public var sortTarget: EtcdSortTarget = .key
    public var keysOnly = false
    public var countOnly = false
    /// Only keys changed (created) at or after this revision; etcd filters before it answers.
    public var minModRevision: Int64 = 0
    public var minCreateRevision: Int64 = 0

    public init(key: Data, rangeEnd: Data? = nil) {
        self.key = key
        self.rangeEnd = rangeEnd
    }

    /// Every key starting with `prefix`.
    public static func prefix(_ prefix: Data) -> Self {
        Self(key: prefix, rangeEnd: EtcdKeyRange.end(ofPrefix: prefix))
    }
}

public struct EtcdRangeResponse: Hashable, Sendable {
    public var header: EtcdResponseHeader
    public var kvs: [EtcdKeyValue]
    /// More keys matched than `limit` returned.
    public var more: Bool
    public var count: Int64
}

public struct EtcdPutRequest: Sendable {
    public var key: Data
    public var value: Data
    public var lease: Int64 = 0

    public init(key: Data, value: Data, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.lease = lease
    }
}

public struct EtcdDeleteRangeRequest: Sendable {
    public var key: Data
    public var rangeEnd: Data?

    public init(key: Data, rangeEnd: Data? = nil) {
        self.key = key
        self.rangeEnd = rangeEnd
    }
}

/// A condition of a transaction: a key's revision, version or value compared with an operand.
public struct EtcdCompare: Sendable {
    public enum Result: String, Sendable { case equal = "EQUAL", greater = "GREATER", less = "LESS", notEqual = "NOT_EQUAL" }
    public enum Target: Sendable {
        case version(Int64), createRevision(Int64), modRevision(Int64), value(Data)
    }

    public var key: Data
    public var result: Result
    public var target: Target

    public init(key: Data, _ result: Result, _ target: Target) {
        self.key = key
        self.result = result
        self.target = target
    }

    /// The key is absent (etcd gives a missing key create revision 0).
    public static func absent(_ key: Data) -> Self { Self(key: key, .equal, .createRevision(0)) }
    /// The key exists.
    public static func present(_ key: Data) -> Self { Self(key: key, .greater, .createRevision(0)) }
    /// The key was last changed at `revision`: nobody wrote it since it was read.
    public static func unchanged(_ key: Data, since revision: Int64) -> Self { Self(key: key, .equal, .modRevision(revision)) }
    public static func value(_ key: Data, equals value: Data) -> Self { Self(key: key, .equal, .value(value)) }
}

public enum EtcdRequestOp: Sendable {
    case range(EtcdRangeRequest)
    case put(EtcdPutRequest)
    case deleteRange(EtcdDeleteRangeRequest)
}

/// If every comparison holds, `success` runs, else `failure`; atomically, at one etcd revision.
public struct EtcdTxnRequest: Sendable {
    public var compare: [EtcdCompare]
    public var success: [EtcdRequestOp]
    public var failure: [EtcdRequestOp]

    public init(compare: [EtcdCompare], success: [EtcdRequestOp], failure: [EtcdRequestOp] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

public enum EtcdResponseOp: Hashable, Sendable {
    case range(EtcdRangeResponse)
    case put(revision: Int64)
    case deleteRange(deleted: Int64)
    /// A nested transaction's answer, which nothing here sends.
    case other

    public var range: EtcdRangeResponse? {
        if case .range(let response) = self { return response }
        return nil
    }
}

public struct EtcdTxnResponse: Hashable, Sendable {
    public var header: EtcdResponseHeader
    public var succeeded: Bool
    /// One per operation of the branch that ran, in order.
    public var responses: [EtcdResponseOp]
}

/// A watch from `startRevision` (0: from now) on one key or a range.
public struct EtcdWatchCreateRequest: Sendable {
    public var key: Data
    public var rangeEnd: Data?
    public var startRevision: Int64
    /// etcd sends an empty response from time to time, so that a quiet watch still learns the revision.
    public var progressNotify: Bool
    public var previousKeyValue: Bool

    public init(key: Data, rangeEnd: Data? = nil, startRevision: Int64 = 0, progressNotify: Bool = false, previousKeyValue: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.startRevision = startRevision
        self.progressNotify = progressNotify
        self.previousKeyValue = previousKeyValue
    }

    public static func prefix(_ prefix: Data, startRevision: Int64 = 0) -> Self {
        Self(key: prefix, rangeEnd: EtcdKeyRange.end(ofPrefix: prefix), startRevision: startRevision)
    }
}

public struct EtcdEvent: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case put = "PUT", delete = "DELETE" }
    public var kind: Kind
    /// After the change; a deletion's has only the key and the mod revision of the deletion.
    public var keyValue: EtcdKeyValue
    public var previousKeyValue: EtcdKeyValue?
}

public struct EtcdWatchResponse: Hashable, Sendable {
    public var header: EtcdResponseHeader
    public var created: Bool
    public var canceled: Bool
    /// Set when the watch asked for history that compaction removed: the oldest revision still kept.
    public var compactRevision: Int64
    public var cancelReason: String
    public var events: [EtcdEvent]
}

public struct EtcdLease: Hashable, Sendable {
    public var id: Int64
    /// Seconds left.
    public var ttl: Int64
}

/// Key ranges by prefix: etcd reads [key, rangeEnd).
public enum EtcdKeyRange {
    /// The smallest key after every key starting with `prefix` (its last byte below 0xff plus one);
    /// `\0` (every key) for an empty prefix or one of 0xff bytes.
    public static func end(ofPrefix prefix: Data) -> Data {
        var bytes = [UInt8](prefix)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }
}

// MARK: - JSON

/// etcd's JSON: int64 as a string (numbers accepted), missing fields as zero.
extension KeyedDecodingContainer {
    func etcdInt64(_ key: Key) throws -> Int64 {
        guard contains(key), try !decodeNil(forKey: key) else { return 0 }
        if let text = try? decode(String.self, forKey: key) {
            guard let value = Int64(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "\(text) is not a 64-bit integer")
            }
            return value
        }
        return try decode(Int64.self, forKey: key)
    }

    func etcdBool(_ key: Key) throws -> Bool { try decodeIfPresent(Bool.self, forKey: key) ?? false }
    func etcdBytes(_ key: Key) throws -> Data { try decodeIfPresent(Data.self, forKey: key) ?? Data() }
    func etcdString(_ key: Key) throws -> String { try decodeIfPresent(String.self, forKey: key) ?? "" }
}

extension KeyedEncodingContainer {
    /// Zero is etcd's default; a string, as etcd itself writes int64.
    mutating func etcdInt64(_ value: Int64, forKey key: Key) throws {
        if value != 0 { try encode(String(value), forKey: key) }
    }
}

extension EtcdKeyValue: Decodable {
    enum CodingKeys: String, CodingKey {
        case key, value, lease, version
        case createRevision = "create_revision", modRevision = "mod_revision"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        key = try container.etcdBytes(.key)
        value = try container.etcdBytes(.value)
        createRevision = try container.etcdInt64(.createRevision)
        modRevision = try container.etcdInt64(.modRevision)
        version = try container.etcdInt64(.version)
        lease = try container.etcdInt64(.lease)
    }
}

extension EtcdResponseHeader: Decodable {
    enum CodingKeys: String, CodingKey { case revision }

    public init(from decoder: any Decoder) throws {
        revision = try decoder.container(keyedBy: CodingKeys.self).etcdInt64(.revision)
    }
}

extension EtcdRangeRequest: Encodable {
    enum CodingKeys: String, CodingKey {
        case key, limit, revision
        case rangeEnd = "range_end", sortOrder = "sort_order", sortTarget = "sort_target", keysOnly = "keys_only"
        case countOnly = "count_only", minModRevision = "min_mod_revision", minCreateRevision = "min_create_revision"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encodeIfPresent(rangeEnd, forKey: .rangeEnd)
        try container.etcdInt64(limit, forKey: .limit)
        try container.etcdInt64(revision, forKey: .revision)
        if sortOrder != .none {
            try container.encode(sortOrder, forKey: .sortOrder)
            try container.encode(sortTarget, forKey: .sortTarget)
        }
        if keysOnly { try container.encode(true, forKey: .keysOnly) }
        if countOnly { try container.encode(true, forKey: .countOnly) }
        try container.etcdInt64(minModRevision, forKey: .minModRevision)
        try container.etcdInt64(minCreateRevision, forKey: .minCreateRevision)
    }
}

extension EtcdRangeResponse: Decodable {
    enum CodingKeys: String, CodingKey { case header, kvs, more, count }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        header = try container.decodeIfPresent(EtcdResponseHeader.self, forKey: .header) ?? EtcdResponseHeader(revision: 0)
        kvs = try container.decodeIfPresent([EtcdKeyValue].self, forKey: .kvs) ?? []
        more = try container.etcdBool(.more)
        count = try container.etcdInt64(.count)
    }
}

extension EtcdPutRequest: Encodable {
    enum CodingKeys: String, CodingKey { case key, value, lease }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(value, forKey: .value)
        try container.etcdInt64(lease, forKey: .lease)
    }
}

extension EtcdDeleteRangeRequest: Encodable {
    enum CodingKeys: String, CodingKey {
        case key
        case rangeEnd = "range_end"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encodeIfPresent(rangeEnd, forKey: .rangeEnd)
    }
}

extension EtcdCompare: Encodable {
    enum CodingKeys: String, CodingKey {
        case key, result, target, version, value
        case createRevision = "create_revision", modRevision = "mod_revision"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(result.rawValue, forKey: .result)
        // Written even when zero: "create_revision 0" is how absence is asked.
        switch target {
        case .version(let version):
            try container.encode("VERSION", forKey: .target)
            try container.encode(String(version), forKey: .version)
        case .createRevision(let revision):
            try container.encode("CREATE", forKey: .target)
            try container.encode(String(revision), forKey: .createRevision)
        case .modRevision(let revision):
            try container.encode("MOD", forKey: .target)
            try container.encode(String(revision), forKey: .modRevision)
        case .value(let value):
            try container.encode("VALUE", forKey: .target)
            try container.encode(value, forKey: .value)
        }
    }
}

extension EtcdRequestOp: Encodable {
    enum CodingKeys: String, CodingKey {
        case range = "request_range", put = "request_put", deleteRange = "request_delete_range"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .range(let request): try container.encode(request, forKey: .range)
        case .put(let request): try container.encode(request, forKey: .put)
        case .deleteRange(let request): try container.encode(request, forKey: .deleteRange)
        }
    }
}

extension EtcdTxnRequest: Encodable {
    enum CodingKeys: String, CodingKey { case compare, success, failure }
}

/// A put's and a delete's answers, alone or inside a transaction.
struct EtcdPutResponse: Decodable {
    var header: EtcdResponseHeader?
}

struct EtcdDeleteRangeResponse: Decodable {
    enum CodingKeys: String, CodingKey { case header, deleted }
    var header: EtcdResponseHeader?
    var deleted: Int64

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        header = try container.decodeIfPresent(EtcdResponseHeader.self, forKey: .header)
        deleted = try container.etcdInt64(.deleted)
    }
}

extension EtcdResponseOp: Decodable {
    enum CodingKeys: String, CodingKey {
        case range = "response_range", put = "response_put", deleteRange = "response_delete_range"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let range = try container.decodeIfPresent(EtcdRangeResponse.self, forKey: .range) {
            self = .range(range)
        } else if let put = try container.decodeIfPresent(EtcdPutResponse.self, forKey: .put) {
            self = .put(revision: put.header?.revision ?? 0)
        } else if let delete = try container.decodeIfPresent(EtcdDeleteRangeResponse.self, forKey: .deleteRange) {
            self = .deleteRange(deleted: delete.deleted)
        } else {
            self = .other
        }
    }
}

extension EtcdTxnResponse: Decodable {
    enum CodingKeys: String, CodingKey { case header, succeeded, responses }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        header = try container.decodeIfPresent(EtcdResponseHeader.self, forKey: .header) ?? EtcdResponseHeader(revision: 0)
        succeeded = try container.etcdBool(.succeeded)
        responses = try container.decodeIfPresent([EtcdResponseOp].self, forKey: .responses) ?? []
    }
}

extension EtcdWatchCreateRequest: Encodable {
    enum CodingKeys: String, CodingKey { case createRequest = "create_request" }
    enum CreateKeys: String, CodingKey {
        case key
        case rangeEnd = "range_end", startRevision = "start_revision", progressNotify = "progress_notify", previousKeyValue = "prev_kv"
    }

    public func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: CodingKeys.self)
        var container = outer.nestedContainer(keyedBy: CreateKeys.self, forKey: .createRequest)
        try container.encode(key, forKey: .key)
        try container.encodeIfPresent(rangeEnd, forKey: .rangeEnd)
        try container.etcdInt64(startRevision, forKey: .startRevision)
        if progressNotify { try container.encode(true, forKey: .progressNotify) }
        if previousKeyValue { try container.encode(true, forKey: .previousKeyValue) }
    }
}

extension EtcdEvent: Decodable {
    enum CodingKeys: String, CodingKey {
        case type, kv
        case previousKeyValue = "prev_kv"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .type) ?? "PUT"
        guard let kind = Kind(rawValue: type) else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown event type \(type)")
        }
        self.kind = kind
        keyValue = try container.decode(EtcdKeyValue.self, forKey: .kv)
        previousKeyValue = try container.decodeIfPresent(EtcdKeyValue.self, forKey: .previousKeyValue)
    }
}

extension EtcdWatchResponse: Decodable {
    enum CodingKeys: String, CodingKey {
        case header, created, canceled, events
        case compactRevision = "compact_revision", cancelReason = "cancel_reason"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        header = try container.decodeIfPresent(EtcdResponseHeader.self, forKey: .header) ?? EtcdResponseHeader(revision: 0)
        created = try container.etcdBool(.created)
        canceled = try container.etcdBool(.canceled)
        compactRevision = try container.etcdInt64(.compactRevision)
        cancelReason = try container.etcdString(.cancelReason)
        events = try container.decodeIfPresent([EtcdEvent].self, forKey: .events) ?? []
    }
}

/// One line of the watch stream: `{"result": …}`, or `{"error": …}` when the gateway gave up.
struct EtcdWatchStreamLine: Decodable {
    var result: EtcdWatchResponse?
    var error: EtcdGatewayError?
}

/// The gateway's error body: `{"error": "...", "message": "...", "code": 3}` (gRPC status codes).
struct EtcdGatewayError: Decodable {
    enum CodingKeys: String, CodingKey { case error, message, code }
    var message: String
    var code: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let message = try container.decodeIfPresent(String.self, forKey: .message)
        let error = try container.decodeIfPresent(String.self, forKey: .error)
        self.message = message ?? error ?? ""
        code = try container.decodeIfPresent(Int.self, forKey: .code) ?? 0
    }
}

struct EtcdLeaseGrantRequest: Encodable {
    var ttl: Int64
    enum CodingKeys: String, CodingKey { case ttl = "TTL" }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(String(ttl), forKey: .ttl)
    }
}

struct EtcdLeaseIDRequest: Encodable {
    var id: Int64
    enum CodingKeys: String, CodingKey { case id = "ID" }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(String(id), forKey: .id)
    }
}

struct EtcdLeaseResponse: Decodable {
    enum CodingKeys: String, CodingKey {
        case id = "ID", ttl = "TTL", error, header
    }
    var id: Int64
    var ttl: Int64
    var error: String
    var header: EtcdResponseHeader?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.etcdInt64(.id)
        ttl = try container.etcdInt64(.ttl)
        error = try container.etcdString(.error)
        header = try container.decodeIfPresent(EtcdResponseHeader.self, forKey: .header)
    }
}

/// A lease keep-alive's answer: the gateway streams `{"result": …}`.
struct EtcdLeaseKeepAliveLine: Decodable {
    var result: EtcdLeaseResponse?
    var error: EtcdGatewayError?
}

struct EtcdCompactionRequest: Encodable {
    var revision: Int64
    var physical: Bool
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(String(revision), forKey: .revision)
        if physical { try container.encode(true, forKey: .physical) }
    }
    enum CodingKeys: String, CodingKey { case revision, physical }
}
