public import SDNModel

/// nft's JSON schema (`man libnftables-json`) for the IR: rendering a ruleset as a document that
/// `nft -j -f` loads, and reading `nft -j list ruleset` back into the IR.
///
/// Reading is strict: a construct the IR cannot hold (an unknown statement or expression, a set
/// property, an element comment…) throws an ``NFTJSONError`` that names it and where it is, rather
/// than being dropped. Runtime state — handles, counter values, element expiry — is ignored.
public enum NFTJSON {
    /// The `json_schema_version` this codec writes and understands.
    public static let schemaVersion = 1

    // MARK: Rendering

    /// The ruleset as JSON text: `{"nftables": [{"metainfo": …}, {"table": …}, …]}`.
    ///
    /// Per table the order is: the table, its chains (empty), its sets and maps, then the rules, so
    /// that `nft -j -f` can resolve verdict-map elements and jumps that name a chain.
    public static func render(_ ruleset: Ruleset, pretty: Bool = false) -> String {
        document(ruleset).serialized(pretty: pretty)
    }

    /// The ruleset as a JSON document value (see ``render(_:pretty:)``).
    public static func document(_ ruleset: Ruleset) -> NFTJSONValue {
        var items: [NFTJSONValue] = [.object(["metainfo": .object(["json_schema_version": .integer(schemaVersion)])])]
        for table in ruleset.tables {
            items.append(.object(["table": .object(["family": .string(table.family.rawValue), "name": .string(table.name)])]))
            for chain in table.chains {
                items.append(json(chain, in: table))
            }
            for set in table.sets {
                items.append(json(set, in: table))
            }
            for chain in table.chains {
                for rule in chain.rules {
                    items.append(json(rule, in: table, chain: chain.name))
                }
            }
        }
        return .object(["nftables": .array(items)])
    }

    /// `{"chain": {…}}`, with type, hook, priority and policy for a base chain.
    public static func json(_ chain: Chain, in table: Table) -> NFTJSONValue {
        var members = [
            NFTJSONValue.Member("family", .string(table.family.rawValue)),
            .init("table", .string(table.name)),
            .init("name", .string(chain.name)),
        ]
        if let base = chain.base {
            members += [
                .init("type", .string(base.type.rawValue)),
                .init("hook", .string(base.hook.rawValue)),
                .init("prio", .integer(base.priority)),
                .init("policy", .string(base.policy.rawValue)),
            ]
        }
        return .object([.init("chain", .object(members))])
    }

    /// `{"set": {…}}` or `{"map": {…}}` with its elements.
    public static func json(_ set: NamedSet, in table: Table) -> NFTJSONValue {
        var members = [
            NFTJSONValue.Member("family", .string(table.family.rawValue)),
            .init("table", .string(table.name)),
            .init("name", .string(set.name)),
            .init("type", set.keyType.count == 1 ? .string(set.keyType[0].rawValue) : .array(set.keyType.map { .string($0.rawValue) })),
        ]
        if let data = set.data {
            members.append(.init("map", .string(data.rawValue)))
        }
        if !set.flags.isEmpty {
            members.append(.init("flags", .array(set.flags.sorted().map { .string($0.rawValue) })))
        }
        if !set.elements.isEmpty {
            members.append(.init("elem", .array(set.elements.map(json(element:)))))
        }
        return .object([.init(set.isMap ? "map" : "set", .object(members))])
    }

    /// One set element: the key (a `concat` for several components), or `[key, data]` in a map.
    public static func json(element: SetElement) -> NFTJSONValue {
        let key: NFTJSONValue = element.key.count == 1 ? json(element.key[0]) : .object(["concat": .array(element.key.map(json))])
        guard let data = element.data else { return key }
        return .array([key, json(data)])
    }

    /// `{"rule": {…}}`; the rule's id is its comment.
    public static func json(_ rule: Rule, in table: Table, chain: String) -> NFTJSONValue {
        var members = [
            NFTJSONValue.Member("family", .string(table.family.rawValue)),
            .init("table", .string(table.name)),
            .init("chain", .string(chain)),
            .init("expr", .array(rule.statements.map { json($0, family: table.family) })),
        ]
        if !rule.id.isEmpty {
            members.append(.init("comment", .string(rule.id)))
        }
        return .object([.init("rule", .object(members))])
    }

    /// One statement. `family` is the table's: NAT in an `inet` table names its address family.
    public static func json(_ statement: Statement, family: TableFamily) -> NFTJSONValue {
        switch statement {
        case .match(let left, let op, let right):
            return .object(["match": .object(["op": .string(op.rawValue), "left": json(left), "right": json(right)])])
        case .counter:
            return .object(["counter": .null])
        case .log(let prefix, let level):
            var members: [NFTJSONValue.Member] = []
            if let prefix { members.append(.init("prefix", .string(prefix))) }
            if let level, level != .nolog { members.append(.init("level", .string(level == .warning ? "warn" : level.rawValue))) }
            return .object([.init("log", members.isEmpty ? .null : .object(members))])
        case .limit(let rate, let per, let burst):
            return .object(["limit": .object(["rate": .integer(rate), "burst": .integer(burst), "per": .string(per)])])
        case .verdict(let verdict):
            return json(verdict)
        case .vmap(let key, let map):
            return .object(["vmap": .object(["key": json(key), "data": .string("@" + map)])])
        case .reject(let reject):
            switch reject {
            case .default: return .object(["reject": .null])
            case .tcpReset: return .object(["reject": .object(["type": .string("tcp reset")])])
            case .icmpx(let code): return .object(["reject": .object(["type": .string("icmpx"), "expr": .string(code)])])
            }
        case .masquerade:
            return .object(["masquerade": .null])
        case .snat(let to):
            return .object(["snat": .object(natMembers(to: to, port: nil, family: family))])
        case .dnat(let to, let port):
            return .object(["dnat": .object(natMembers(to: to, port: port, family: family))])
        }
    }

    private static func natMembers(to: Value, port: UInt16?, family: TableFamily) -> [NFTJSONValue.Member] {
        var members: [NFTJSONValue.Member] = []
        // nft refuses NAT to an address in an inet table unless it names the family.
        if family == .inet, let addressFamily = to.addressFamily {
            members.append(.init("family", .string(addressFamily == .ipv4 ? "ip" : "ip6")))
        }
        members.append(.init("addr", json(to)))
        if let port { members.append(.init("port", .integer(Int(port)))) }
        return members
    }

    /// `{"accept": null}`, `{"jump": {"target": "chain"}}` …
    public static func json(_ verdict: Verdict) -> NFTJSONValue {
        switch verdict {
        case .accept: .object(["accept": .null])
        case .drop: .object(["drop": .null])
        case .continue: .object(["continue": .null])
        case .return: .object(["return": .null])
        case .jump(let chain): .object(["jump": .object(["target": .string(chain)])])
        case .goto(let chain): .object(["goto": .object(["target": .string(chain)])])
        }
    }

    public static func json(_ expression: Expression) -> NFTJSONValue {
        switch expression {
        case .payload(let field): .object(["payload": .object(["protocol": .string(field.protocolName), "field": .string(field.name)])])
        case .meta(let key): .object(["meta": .object(["key": .string(key.name)])])
        case .ct(let key): .object(["ct": .object(["key": .string(key.name)])])
        case .unrecognised(let text): .object(["unrecognised": .string(text)])
        case .value(let value): json(value)
        case .set(let values): .object(["set": .array(values.map(json))])
        case .setReference(let name): .string("@" + name)
        case .concat(let parts): .object(["concat": .array(parts.map(json))])
        case .bitwiseAnd(let left, let right): .object(["&": .array([json(left), json(right)])])
        }
    }

    /// A constant: strings and symbols as JSON strings, a flag list as an array (one flag as a string).
    public static func json(_ value: Value) -> NFTJSONValue {
        switch value {
        case .string(let text): .string(text)
        case .symbol(let symbol): .string(symbol.name)
        case .integer(let number): .integer(number)
        case .address(let address): .string(address.description)
        case .prefix(let prefix): .object(["prefix": .object(["addr": .string(prefix.network.description), "len": .integer(prefix.length)])])
        case .range(let low, let high): .object(["range": .array([json(low), json(high)])])
        case .ether(let mac): .string(mac.description)
        case .flags(let names): names.count == 1 ? .string(names[0]) : .array(names.map { .string($0) })
        case .verdict(let verdict): json(verdict)
        }
    }
}

extension Value {
    /// The IP family of an address, prefix or address range.
    public var addressFamily: IPAddress.Family? {
        switch self {
        case .address(let address): address.family
        case .prefix(let prefix): prefix.family
        case .range(let low, _): low.addressFamily
        default: nil
        }
    }
}

// MARK: - Errors

/// JSON that could not be read into the IR.
public struct NFTJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// Not JSON at all (see ``syntax``).
        case syntax
        /// Valid nft JSON with a construct the IR does not have.
        case unsupported
        /// Not what nft's schema allows here (a missing member, a wrong type, a bad address …).
        case invalid
    }

    public var code: Code
    public var message: String
    /// Where in the document, e.g. `nftables[12].rule.expr[1].match.right`.
    public var path: String
    /// The table, chain, set or rule the construct belongs to, e.g. `rule "node/lo" in inet sdn input`.
    public var object: String?
    /// The underlying syntax error, for ``Code/syntax``.
    public var syntax: NFTJSONSyntaxError?

    public init(code: Code, message: String, path: String, object: String? = nil, syntax: NFTJSONSyntaxError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.object = object
        self.syntax = syntax
    }

    public var description: String {
        var text = message
        if let object { text += " (in \(object))" }
        if !path.isEmpty { text += " at \(path)" }
        return text
    }
}

// MARK: - Parsing

extension NFTJSON {
    /// Reads `nft -j list ruleset` (or any document of table, chain, set, map and rule objects) into
    /// the IR, keeping the tables `includeTable` accepts; objects of other tables are skipped unread.
    ///
    /// - Throws: ``NFTJSONError``: `.syntax` for malformed JSON, `.unsupported` for a construct of a
    ///   kept table that the IR cannot hold, `.invalid` for input that breaks nft's schema.
    public static func parse(
        _ text: String,
        includeTable: (TableFamily, String) -> Bool = { _, _ in true }
    ) throws(NFTJSONError) -> Ruleset {
        let document: NFTJSONValue
        do {
            document = try NFTJSONValue(parsing: text)
        } catch {
            throw NFTJSONError(code: .syntax, message: error.description, path: "", syntax: error)
        }
        return try ruleset(from: document, includeTable: includeTable)
    }

    /// Reads a parsed JSON document into the IR (see ``parse(_:includeTable:)``).
    public static func ruleset(
        from document: NFTJSONValue,
        includeTable: (TableFamily, String) -> Bool = { _, _ in true }
    ) throws(NFTJSONError) -> Ruleset {
        guard let items = document["nftables"]?.arrayValue else {
            throw NFTJSONError(code: .invalid, message: "expected a top-level object {\"nftables\": [...]}", path: "")
        }
        var tables: [Table] = []
        var positions: [TableKey: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "nftables[\(index)]"
            guard let members = item.objectMembers, members.count == 1 else {
                throw NFTJSONError(code: .invalid, message: "expected an object with one member naming its kind", path: path)
            }
            let kind = members[0].key
            let body = members[0].value
            var reader = ObjectReader(body: body, path: "\(path).\(kind)", object: nil)
            if kind == "metainfo" {
                if let version = body["json_schema_version"], version != .integer(schemaVersion) {
                    throw NFTJSONError(code: .unsupported, message: "JSON schema version \(version.serialized()) (this reader knows \(schemaVersion))", path: reader.path)
                }
                continue
            }

            let familyName = try reader.string("family")
            guard let family = TableFamily(rawValue: familyName) else {
                throw reader.failure(.unsupported, "table family '\(familyName)'")
            }
            let tableName = try reader.string(kind == "table" ? "name" : "table")
            guard includeTable(family, tableName) else { continue }
            let key = TableKey(family: family, name: tableName)

            if kind == "table" {
                reader.object = "table \(family.rawValue) \(tableName)"
                try reader.allow(["family", "name", "handle"])
                guard positions[key] == nil else { throw reader.failure(.invalid, "table listed twice") }
                positions[key] = tables.count
                tables.append(Table(family: family, name: tableName))
                continue
            }
            guard let position = positions[key] else {
                throw reader.failure(.invalid, "\(kind) of table \(family.rawValue) \(tableName) before the table itself")
            }
            switch kind {
            case "chain":
                tables[position].chains.append(try reader.chain())
            case "set", "map":
                tables[position].sets.append(try reader.set(isMap: kind == "map"))
            case "rule":
                let chainName = try reader.string("chain")
                guard let chainIndex = tables[position].chains.firstIndex(where: { $0.name == chainName }) else {
                    throw reader.failure(.invalid, "rule of chain \(chainName), which is not listed before it")
                }
                reader.object = "rule in \(family.rawValue) \(tableName) \(chainName)"
                let rule = try reader.rule(sets: tables[position].sets)
                tables[position].chains[chainIndex].rules.append(rule)
            default:
                throw reader.failure(.unsupported, "\(kind) objects (table \(family.rawValue) \(tableName))")
            }
        }
        return Ruleset(tables: tables)
    }

    struct TableKey: Hashable {
        var family: TableFamily
        var name: String
    }
}

/// Reads one top-level object (table, chain, set, rule) and the statements and expressions inside it,
/// keeping the path for error messages.
private struct ObjectReader {
    let body: NFTJSONValue
    let path: String
    var object: String?

    init(body: NFTJSONValue, path: String, object: String?) {
        self.body = body
        self.path = path
        self.object = object
    }

    func failure(_ code: NFTJSONError.Code, _ message: String, at path: String? = nil) -> NFTJSONError {
        NFTJSONError(code: code, message: code == .unsupported ? "unsupported: \(message)" : message, path: path ?? self.path, object: object)
    }

    func string(_ key: String) throws(NFTJSONError) -> String {
        guard let value = body[key] else { throw failure(.invalid, "missing member \"\(key)\"") }
        guard let text = value.stringValue else { throw failure(.invalid, "member \"\(key)\" must be a string", at: "\(path).\(key)") }
        return text
    }

    /// Refuses members outside `keys`: they would carry something the IR cannot keep.
    func allow(_ keys: Set<String>, in value: NFTJSONValue? = nil, at path: String? = nil) throws(NFTJSONError) {
        guard let members = (value ?? body).objectMembers else { return }
        for member in members where !keys.contains(member.key) {
            throw failure(.unsupported, "property \"\(member.key)\"", at: "\(path ?? self.path).\(member.key)")
        }
    }

    // MARK: Chains and sets

    mutating func chain() throws(NFTJSONError) -> Chain {
        let name = try string("name")
        object = "chain \(try string("family")) \(try string("table")) \(name)"
        try allow(["family", "table", "name", "handle", "type", "hook", "prio", "policy"])
        guard body["hook"] != nil || body["type"] != nil else { return Chain(name: name) }
        let typeName = try string("type")
        let hookName = try string("hook")
        guard let type = BaseChain.ChainType(rawValue: typeName) else { throw failure(.unsupported, "chain type '\(typeName)'", at: "\(path).type") }
        guard let hook = BaseChain.Hook(rawValue: hookName) else { throw failure(.unsupported, "hook '\(hookName)'", at: "\(path).hook") }
        guard let priority = body["prio"]?.integerValue else { throw failure(.invalid, "base chain without a numeric \"prio\"") }
        var policy = BaseChain.Policy.accept
        if body["policy"] != nil {
            let policyName = try string("policy")
            guard let parsed = BaseChain.Policy(rawValue: policyName) else { throw failure(.unsupported, "chain policy '\(policyName)'", at: "\(path).policy") }
            policy = parsed
        }
        return Chain(name: name, base: BaseChain(type: type, hook: hook, priority: priority, policy: policy))
    }

    mutating func set(isMap: Bool) throws(NFTJSONError) -> NamedSet {
        let name = try string("name")
        object = "\(isMap ? "map" : "set") \(try string("family")) \(try string("table")) \(name)"
        try allow(["family", "table", "name", "handle", "type", "map", "flags", "elem"])
        let keyType = try keyTypes(body["type"], at: "\(path).type")
        var data: SetKeyType?
        if isMap {
            guard let dataName = body["map"]?.stringValue else { throw failure(.invalid, "map without a \"map\" data type") }
            guard let parsed = SetKeyType(rawValue: dataName) else { throw failure(.unsupported, "map data type '\(dataName)'", at: "\(path).map") }
            data = parsed
        }
        var flags: Set<NamedSet.Flag> = []
        if let flagsValue = body["flags"] {
            let names = flagsValue.stringValue.map { [$0] } ?? flagsValue.arrayValue?.compactMap(\.stringValue)
            guard let names else { throw failure(.invalid, "\"flags\" must be a list of names", at: "\(path).flags") }
            for flag in names {
                guard let parsed = NamedSet.Flag(rawValue: flag) else { throw failure(.unsupported, "set flag '\(flag)'", at: "\(path).flags") }
                flags.insert(parsed)
            }
        }
        var elements: [SetElement] = []
        if let elementsValue = body["elem"] {
            guard let list = elementsValue.arrayValue else { throw failure(.invalid, "\"elem\" must be a list", at: "\(path).elem") }
            for (index, item) in list.enumerated() {
                elements.append(try element(item, keyType: keyType, data: data, at: "\(path).elem[\(index)]"))
            }
        }
        return NamedSet(name: name, keyType: keyType, data: data, flags: flags, elements: elements)
    }

    func keyTypes(_ value: NFTJSONValue?, at path: String) throws(NFTJSONError) -> [SetKeyType] {
        guard let value else { throw failure(.invalid, "missing member \"type\"") }
        let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue)
        guard let names, !names.isEmpty else { throw failure(.invalid, "\"type\" must be a type name or a list of them", at: path) }
        var types: [SetKeyType] = []
        for name in names {
            guard let type = SetKeyType(rawValue: name) else { throw failure(.unsupported, "set key type '\(name)'", at: path) }
            types.append(type)
        }
        return types
    }

    func element(_ item: NFTJSONValue, keyType: [SetKeyType], data: SetKeyType?, at path: String) throws(NFTJSONError) -> SetElement {
        if let data {
            guard let pair = item.arrayValue, pair.count == 2 else { throw failure(.invalid, "a map element must be [key, data]", at: path) }
            let key = try elementKey(pair[0], keyType: keyType, at: "\(path)[0]")
            let value = try self.value(pair[1], kind: Datatype(data), at: "\(path)[1]")
            return SetElement(key: key, data: value)
        }
        return SetElement(key: try elementKey(item, keyType: keyType, at: path))
    }

    func elementKey(_ item: NFTJSONValue, keyType: [SetKeyType], at path: String) throws(NFTJSONError) -> [Value] {
        let key = try unwrapElement(item, at: path)
        guard keyType.count > 1 else { return [try value(key, kind: Datatype(keyType[0]), at: path)] }
        guard let parts = key["concat"]?.arrayValue, parts.count == keyType.count else {
            throw failure(.invalid, "expected a concatenation of \(keyType.count) values", at: path)
        }
        var values: [Value] = []
        for (index, part) in parts.enumerated() {
            values.append(try value(part, kind: Datatype(keyType[index]), at: "\(path).concat[\(index)]"))
        }
        return values
    }

    /// `{"elem": {"val": X, …}}` → X. Expiry is runtime state; anything else the IR can't keep.
    func unwrapElement(_ item: NFTJSONValue, at path: String) throws(NFTJSONError) -> NFTJSONValue {
        guard let wrapper = item["elem"] else { return item }
        try allow(["val", "expires"], in: wrapper, at: "\(path).elem")
        guard let inner = wrapper["val"] else { throw failure(.invalid, "element without \"val\"", at: "\(path).elem") }
        return inner
    }

    // MARK: Rules

    mutating func rule(sets: [NamedSet]) throws(NFTJSONError) -> Rule {
        let comment = body["comment"]?.stringValue
        if let comment, let object { self.object = "rule \"\(comment)\"" + object.dropFirst("rule".count) }
        try allow(["family", "table", "chain", "handle", "expr", "comment"])
        guard let list = body["expr"]?.arrayValue else { throw failure(.invalid, "rule without an \"expr\" list") }
        var statements: [Statement] = []
        for (index, item) in list.enumerated() {
            statements.append(try statement(item, at: "\(path).expr[\(index)]"))
        }
        return Rule(id: comment ?? "", statements: statements)
    }

    func single(_ item: NFTJSONValue, at path: String) throws(NFTJSONError) -> (String, NFTJSONValue) {
        guard let members = item.objectMembers, members.count == 1 else {
            throw failure(.invalid, "expected an object with one member naming its kind", at: path)
        }
        return (members[0].key, members[0].value)
    }

    func statement(_ item: NFTJSONValue, at path: String) throws(NFTJSONError) -> Statement {
        let (kind, body) = try single(item, at: path)
        let here = "\(path).\(kind)"
        switch kind {
        case "match":
            return try match(body, at: here)
        case "counter":
            guard body.isNull || body.objectMembers != nil else { throw failure(.unsupported, "named counter reference", at: here) }
            try allow(["packets", "bytes"], in: body, at: here)
            return .counter
        case "log":
            try allow(["prefix", "level"], in: body, at: here)
            var level: LogLevel?
            if let name = body["level"]?.stringValue {
                guard let parsed = name == "warn" ? .warning : LogLevel(rawValue: name), parsed != .nolog else {
                    throw failure(.unsupported, "log level '\(name)'", at: "\(here).level")
                }
                level = parsed
            }
            return .log(prefix: body["prefix"]?.stringValue, level: level)
        case "limit":
            try allow(["rate", "burst", "per", "rate_unit", "burst_unit", "inv"], in: body, at: here)
            if let unit = body["rate_unit"]?.stringValue, unit != "packets" { throw failure(.unsupported, "limit in \(unit)", at: "\(here).rate_unit") }
            if let unit = body["burst_unit"]?.stringValue, unit != "packets" { throw failure(.unsupported, "limit burst in \(unit)", at: "\(here).burst_unit") }
            if body["inv"] == .bool(true) { throw failure(.unsupported, "inverted limit (limit rate over)", at: "\(here).inv") }
            guard let rate = body["rate"]?.integerValue, let per = body["per"]?.stringValue else {
                throw failure(.invalid, "limit needs \"rate\" and \"per\"", at: here)
            }
            return .limit(rate: rate, per: per, burst: body["burst"]?.integerValue ?? 0)
        case "accept", "drop", "continue", "return", "jump", "goto":
            return .verdict(try verdict(kind, body, at: here))
        case "vmap":
            try allow(["key", "data"], in: body, at: here)
            guard let key = body["key"], let data = body["data"] else { throw failure(.invalid, "vmap needs \"key\" and \"data\"", at: here) }
            guard let reference = data.stringValue, reference.hasPrefix("@") else {
                throw failure(.unsupported, "anonymous verdict map (only @named maps)", at: "\(here).data")
            }
            return .vmap(try expression(key, at: "\(here).key"), map: String(reference.dropFirst()))
        case "reject":
            return .reject(try reject(body, at: here))
        case "masquerade":
            guard body.isNull || body.objectMembers?.isEmpty == true else { throw failure(.unsupported, "masquerade options", at: here) }
            return .masquerade
        case "snat", "dnat":
            try allow(["family", "addr", "port"], in: body, at: here)
            guard let address = body["addr"] else { throw failure(.unsupported, "\(kind) without an address", at: here) }
            var addressKind = Datatype.ipv4Address
            if body["family"]?.stringValue == "ip6" || address.stringValue?.contains(":") == true { addressKind = .ipv6Address }
            let to = try value(address, kind: addressKind, at: "\(here).addr")
            var port: UInt16?
            if let portValue = body["port"] {
                guard let number = portValue.integerValue, let parsed = UInt16(exactly: number) else {
                    throw failure(.unsupported, "NAT port \(portValue.serialized()) (only a single port)", at: "\(here).port")
                }
                port = parsed
            }
            if kind == "snat" {
                guard port == nil else { throw failure(.unsupported, "snat to a port", at: "\(here).port") }
                return .snat(to: to)
            }
            return .dnat(to: to, port: port)
        default:
            throw failure(.unsupported, "statement \"\(kind)\"", at: here)
        }
    }

    func verdict(_ kind: String, _ body: NFTJSONValue, at path: String) throws(NFTJSONError) -> Verdict {
        switch kind {
        case "accept": return .accept
        case "drop": return .drop
        case "continue": return .continue
        case "return": return .return
        case "jump", "goto":
            guard let target = body["target"]?.stringValue else { throw failure(.invalid, "\(kind) needs a \"target\" chain", at: path) }
            return kind == "jump" ? .jump(target) : .goto(target)
        default:
            throw failure(.unsupported, "verdict \"\(kind)\"", at: path)
        }
    }

    func reject(_ body: NFTJSONValue, at path: String) throws(NFTJSONError) -> Reject {
        guard !body.isNull else { return .default }
        try allow(["type", "expr"], in: body, at: path)
        let type = body["type"]?.stringValue
        let code = body["expr"]?.stringValue
        switch type {
        case "tcp reset": return .tcpReset
        case "icmpx": return code.map { .icmpx($0) } ?? .default
        // `reject` in an ip or ip6 table lists as ICMP port unreachable, the kernel's default.
        case nil: return .default
        case let type? where (type == "icmp" || type == "icmpv6") && (code == nil || code == "port-unreachable"): return .default
        default: throw failure(.unsupported, "reject with \(type ?? "") \(code ?? "") (only icmpx codes and tcp reset)", at: path)
        }
    }

    func match(_ body: NFTJSONValue, at path: String) throws(NFTJSONError) -> Statement {
        try allow(["op", "left", "right"], in: body, at: path)
        guard let opName = body["op"]?.stringValue, let leftValue = body["left"], let rightValue = body["right"] else {
            throw failure(.invalid, "match needs \"op\", \"left\" and \"right\"", at: path)
        }
        let left = try expression(leftValue, at: "\(path).left")
        let kind = left.datatype
        if opName == "!" {
            // `tcp flags ! syn,rst` is nft's way of printing `tcp flags & (syn|rst) == 0`.
            guard let kind, kind.isBitmask || kind == .integer || kind == .mark else { throw failure(.invalid, "'!' applies to flags only", at: "\(path).op") }
            let mask = try value(rightValue, kind: kind, at: "\(path).right")
            return .match(.bitwiseAnd(left, .value(mask)), .equal, .value(.integer(0)))
        }
        guard let op = MatchOperator(rawValue: opName) else { throw failure(.unsupported, "match operator '\(opName)'", at: "\(path).op") }
        return .match(left, op, try right(rightValue, kind: kind, at: "\(path).right"))
    }

    /// A left-hand expression: packet fields, metadata, conntrack keys, concatenations, `&`.
    func expression(_ item: NFTJSONValue, at path: String) throws(NFTJSONError) -> Expression {
        let (kind, body) = try single(item, at: path)
        let here = "\(path).\(kind)"
        switch kind {
        case "payload":
            guard let proto = body["protocol"]?.stringValue, let field = body["field"]?.stringValue else {
                throw failure(.unsupported, "raw payload expression (base/offset/len)", at: here)
            }
            try allow(["protocol", "field"], in: body, at: here)
            guard let known = Field.named(proto, field), case .payload = known.source else {
                throw failure(.unsupported, "payload field '\(proto) \(field)'", at: here)
            }
            return .payload(known)
        case "meta":
            try allow(["key"], in: body, at: here)
            guard let key = body["key"]?.stringValue else { throw failure(.invalid, "meta needs a \"key\"", at: here) }
            guard let known = MetaKey(name: key) else { throw failure(.unsupported, "meta key '\(key)'", at: here) }
            return .meta(known)
        case "ct":
            try allow(["key"], in: body, at: here)
            guard let key = body["key"]?.stringValue else { throw failure(.invalid, "ct needs a \"key\"", at: here) }
            guard let known = CtKey(name: key) else { throw failure(.unsupported, "ct key '\(key)'", at: here) }
            return .ct(known)
        case "concat":
            guard let parts = body.arrayValue, parts.count >= 2 else { throw failure(.invalid, "concat needs a list of at least two expressions", at: here) }
            var expressions: [Expression] = []
            for (index, part) in parts.enumerated() {
                expressions.append(try expression(part, at: "\(here)[\(index)]"))
            }
            return .concat(expressions)
        case "&":
            guard let operands = body.arrayValue, operands.count == 2 else { throw failure(.invalid, "'&' needs two operands", at: here) }
            let left = try expression(operands[0], at: "\(here)[0]")
            guard let kind = left.datatype else { throw failure(.unsupported, "'&' of a concatenation", at: here) }
            return .bitwiseAnd(left, .value(try value(operands[1], kind: kind, at: "\(here)[1]")))
        default:
            throw failure(.unsupported, "expression \"\(kind)\"", at: here)
        }
    }

    /// The right-hand side of a match: a named set, an anonymous set, or a constant of the left's kind.
    func right(_ item: NFTJSONValue, kind: Datatype?, at path: String) throws(NFTJSONError) -> Expression {
        if let text = item.stringValue, text.hasPrefix("@") {
            return .setReference(String(text.dropFirst()))
        }
        guard let kind else {
            throw failure(.unsupported, "a concatenation compared with anything but a named set", at: path)
        }
        if let contents = item["set"] {
            let list = contents.arrayValue ?? [contents]
            var values: [Value] = []
            for (index, element) in list.enumerated() {
                let elementPath = "\(path).set[\(index)]"
                values.append(try value(try unwrapElement(element, at: elementPath), kind: kind, at: elementPath))
            }
            return .set(values)
        }
        return .value(try value(item, kind: kind, at: path))
    }

    /// A constant, read as `kind` says: `"eth0"` is an interface name, `"tcp"` a symbol, `"10.0.0.1"`
    /// an address.
    func value(_ item: NFTJSONValue, kind: Datatype, at path: String) throws(NFTJSONError) -> Value {
        switch item {
        case .integer(let number):
            guard kind != .verdict else { throw failure(.invalid, "expected a verdict", at: path) }
            return .integer(number)
        case .string(let text):
            switch kind {
            case .interfaceName: return .string(text)
            case .ipv4Address, .ipv6Address:
                guard let address = try? IPAddress(text), (address.family == .ipv4) == (kind == .ipv4Address) else {
                    throw failure(.invalid, "'\(text)' is not an \(kind == .ipv4Address ? "IPv4" : "IPv6") address", at: path)
                }
                return .address(address)
            case .etherAddress:
                guard let mac = try? MACAddress(text) else { throw failure(.invalid, "'\(text)' is not a MAC address", at: path) }
                return .ether(mac)
            case _ where kind.isBitmask: return .flags([text])
            case .verdict: throw failure(.invalid, "expected a verdict", at: path)
            default:
                do { return .symbol(try Symbol(text, of: kind)) } catch { throw failure(.invalid, error.description, at: path) }
            }
        case .array(let list) where kind.isBitmask:
            var names: [String] = []
            for element in list {
                guard let name = element.stringValue else { throw failure(.invalid, "a flag list holds names only", at: path) }
                names.append(name)
            }
            return .flags(names)
        case .object(let members) where members.count == 1:
            let (name, body) = (members[0].key, members[0].value)
            switch name {
            case "prefix":
                guard kind.isAddress, let text = body["addr"]?.stringValue, let length = body["len"]?.integerValue,
                      let address = try? IPAddress(text), (address.family == .ipv4) == (kind == .ipv4Address),
                      (0...address.family.bitWidth).contains(length)
                else { throw failure(.invalid, "invalid prefix \(item.serialized())", at: path) }
                return .prefix(IPPrefix(address: address, length: length))
            case "range":
                guard let bounds = body.arrayValue, bounds.count == 2 else { throw failure(.invalid, "a range needs two bounds", at: path) }
                return .range(try value(bounds[0], kind: kind, at: "\(path).range[0]"), try value(bounds[1], kind: kind, at: "\(path).range[1]"))
            case "|" where kind.isBitmask:
                // `ct state != established|related` lists its or-ed flags as {"|": [a, b]}, nested for more.
                guard let operands = body.arrayValue, operands.count == 2 else { throw failure(.invalid, "'|' needs two operands", at: path) }
                var names: [String] = []
                for (index, operand) in operands.enumerated() {
                    guard case .flags(let more) = try value(operand, kind: kind, at: "\(path).|[\(index)]") else {
                        throw failure(.invalid, "'|' of flags holds names only", at: path)
                    }
                    names += more
                }
                return .flags(names)
            case _ where kind == .verdict:
                return .verdict(try verdict(name, body, at: "\(path).\(name)"))
            default:
                throw failure(.unsupported, "value \"\(name)\"", at: path)
            }
        default:
            throw failure(.unsupported, "value \(item.serialized())", at: path)
        }
    }
}
