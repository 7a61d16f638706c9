public import SDNDataplane
public import SDNNFTables
import SDNHostNetwork

/// An ordered list of kernel writes that turns what a node has into what the topology and policy say,
/// each with the writes that undo it. Pure data: `sdn plan` prints it, `Applier` runs it.
public struct Plan: Hashable, Sendable {
    public var node: String
    public var steps: [PlanStep]
    /// Reasons the plan cannot be applied as a whole (a link with our name that we did not create, …).
    public var conflicts: [String]
    /// Things left alone on purpose (a guest that is not running, an EVPN zone, …).
    public var notes: [String]

    public init(node: String, steps: [PlanStep] = [], conflicts: [String] = [], notes: [String] = []) {
        self.node = node
        self.steps = steps
        self.conflicts = conflicts
        self.notes = notes
    }

    public var isEmpty: Bool { steps.isEmpty }
    public var linkWriteCount: Int { steps.filter { if case .link = $0.action { true } else { false } }.count }
}

/// One write of a plan.
public struct PlanStep: Hashable, Sendable {
    public enum Category: String, Hashable, Sendable, CaseIterable {
        case create, change, flap, recreate, delete, firewall
    }

    public enum Action: Hashable, Sendable {
        case link(LinkOperation)
        /// ONE nftables transaction (the whole firewall delta).
        case firewall(FirewallTransaction)
    }

    public var category: Category
    /// What the step is about, for people: `link vxlan_web`, `fdb 00:00:00:00:00:00 dst 10.0.0.12 on vxlan_web`.
    public var subject: String
    /// The topology object that asked for it (`vnet:web/vxlan`), when there is one.
    public var owner: String?
    /// Why: `mtu 1500 → 1450`, `new`, `not in the topology`.
    public var detail: String
    public var action: Action
    /// Writes that restore the previous state after this step succeeded, in order.
    public var undo: [Action]

    public init(category: Category, subject: String, owner: String? = nil, detail: String, action: Action, undo: [Action]) {
        self.category = category
        self.subject = subject
        self.owner = owner
        self.detail = detail
        self.action = action
        self.undo = undo
    }
}

/// The firewall's part of a plan: the delta as one atomic transaction, and the delta back.
public struct FirewallTransaction: Hashable, Sendable {
    public var changes: [FirewallChange]
    public var undo: [FirewallChange]
    /// The ruleset generation the delta was computed against.
    public var expectedGeneration: UInt32?

    public init(changes: [FirewallChange], undo: [FirewallChange], expectedGeneration: UInt32?) {
        self.changes = changes
        self.undo = undo
        self.expectedGeneration = expectedGeneration
    }
}

extension FirewallTransaction {
    /// The delta from what the kernel holds to `desired` (in the kernel's canonical form), the delta back,
    /// and the generation both were computed against.
    public init(from observed: ObservedFirewall, to desired: Ruleset) {
        self.init(changes: RulesetDiff.changes(from: observed.ruleset, to: desired),
                  undo: RulesetDiff.changes(from: desired, to: observed.ruleset),
                  expectedGeneration: observed.generation)
    }
}
