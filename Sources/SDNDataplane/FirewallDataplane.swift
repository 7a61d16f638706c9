public import SDNNFTables

/// What the kernel holds of our firewall: our tables only, and the ruleset generation they were read at.
public struct ObservedFirewall: Hashable, Sendable {
    public var ruleset: Ruleset
    /// nf_tables' ruleset generation id: it changes with every committed transaction, anyone's.
    public var generation: UInt32

    public init(ruleset: Ruleset, generation: UInt32) {
        self.ruleset = ruleset
        self.generation = generation
    }
}

/// What an apply did.
public struct FirewallApplyReport: Hashable, Sendable {
    /// Netlink messages sent in the batch (begin/end excluded).
    public var messageCount: Int
    /// The generation after commit.
    public var generation: UInt32

    public init(messageCount: Int, generation: UInt32) {
        self.messageCount = messageCount
        self.generation = generation
    }
}

/// Why an apply failed. A failed apply changes nothing: the batch is aborted as a whole.
public struct FirewallApplyError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// Someone else committed since we observed (`expectedGeneration` was stale): observe and plan again.
        case generationChanged
        /// The kernel rejected one step of the batch.
        case rejected
        /// The netlink conversation itself failed.
        case transport
    }

    public var code: Code
    public var message: String
    /// The step the kernel rejected, when known (index into the change list and the change itself).
    public var failedChangeIndex: Int?
    public var failedChange: FirewallChange?
    /// errno reported by the kernel.
    public var errno: Int32?

    public init(code: Code, message: String, failedChangeIndex: Int? = nil, failedChange: FirewallChange? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.failedChangeIndex = failedChangeIndex
        self.failedChange = failedChange
        self.errno = errno
    }

    public var description: String {
        var text = message
        if let failedChange { text += " (in: \(failedChange.objectDescription))" }
        return text
    }
}

/// The firewall side effect: read our tables, apply an ordered change list as one atomic transaction.
/// One real implementation (libnftnl over netlink) and one in-memory fake (SDNTesting).
public protocol FirewallDataplane: Sendable {
    /// Reads our own tables (`inet sdn`, `bridge sdn`, …) back into the IR, with the generation id.
    func observe(tables: [(TableFamily, String)]) async throws -> ObservedFirewall

    /// Applies `changes` as ONE netlink batch. With `expectedGeneration`, the batch is refused with
    /// `.generationChanged` if the ruleset changed since it was observed.
    func apply(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport

    /// Applies a change list too large for one transaction (a first load of 100,000 rules) as several,
    /// objects nothing reaches yet first and the hooks last, so traffic never meets a half-built ruleset.
    /// A dataplane without such staging applies one batch (the default).
    func applyStaged(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport
}

extension FirewallDataplane {
    public func applyStaged(_ changes: [FirewallChange], expectedGeneration: UInt32?) async throws(FirewallApplyError) -> FirewallApplyReport {
        try await apply(changes, expectedGeneration: expectedGeneration)
    }
}
