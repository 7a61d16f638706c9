public import SDNNFTables

/// What one rule's counter has seen, named by the rule's stable id (its comment), for `/metrics`.
public struct RuleCounter: Hashable, Sendable {
    public var family: TableFamily
    public var table: String
    public var chain: String
    /// The compiled rule's id: `guest-101-net0-in/web`, `cluster-in/r1a2b…` (chain/policy rule id).
    public var ruleID: String
    public var packets: UInt64
    public var bytes: UInt64

    public init(family: TableFamily, table: String, chain: String, ruleID: String, packets: UInt64, bytes: UInt64) {
        self.family = family
        self.table = table
        self.chain = chain
        self.ruleID = ruleID
        self.packets = packets
        self.bytes = bytes
    }
}

extension NetlinkFirewall {
    /// The counters of every rule with a counter and an id in the listed tables (a rule dump, no
    /// decoding into the IR: cheap enough for a Prometheus scrape).
    public func ruleCounters(tables: [(TableFamily, String)]) async throws -> [RuleCounter] {
        try await perform { socket throws(NFTNetlinkError) in
            let reader = RulesetReader(socket: socket)
            var counters: [RuleCounter] = []
            for (family, name) in tables {
                guard let dumped = try reader.dump(family, name) else { continue }
                for rule in dumped.rules {
                    guard let counter = rule.counter, let id = UserData.ruleComment(in: rule.userdata), !id.isEmpty else { continue }
                    counters.append(RuleCounter(family: family, table: name, chain: rule.chain, ruleID: id,
                                                packets: counter.packets, bytes: counter.bytes))
                }
            }
            return counters
        }.get()
    }
}
