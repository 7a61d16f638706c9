public import Foundation
public import SDNStore

/// Something the controller did or saw, as the event stream (`GET /v1/events`, `sdn events`) shows it.
public struct DaemonEvent: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        case revisionCreated = "revision-created"
        case applyStarted = "apply-started"
        case applyFinished = "apply-finished"
        case applyFailed = "apply-failed"
        case driftFound = "drift-found"
        case driftRepaired = "drift-repaired"
        case portPlugged = "port-plugged"
        case portUnplugged = "port-unplugged"
    }

    /// Increasing within one daemon's life (the SSE `id:`).
    public var sequence: Int64
    public var time: Date
    public var kind: Kind
    public var node: String
    public var revision: RevisionNumber?
    /// One line a person reads (`tap101i0 attached to vnet web`, `3 link writes, 42 firewall messages in 4.1 ms`).
    public var message: String
    /// Figures of an apply: `steps`, `linkWrites`, `firewallMessages`, `milliseconds`.
    public var figures: [String: Double]

    public init(sequence: Int64 = 0, time: Date = Date(), kind: Kind, node: String, revision: RevisionNumber? = nil,
                message: String, figures: [String: Double] = [:]) {
        self.sequence = sequence
        self.time = time
        self.kind = kind
        self.node = node
        self.revision = revision
        self.message = message
        self.figures = figures
    }
}

/// What applying a revision would do on this node, in `sdn plan`'s words.
public struct NodePlan: Codable, Hashable, Sendable {
    public var node: String
    public var revision: RevisionNumber
    /// `PlanRenderer`'s text, as `sdn plan` prints it.
    public var text: String
    public var steps: Int
    public var firewallChanges: Int
    public var conflicts: [String]
    /// Warnings and errors of loading and compiling the revision, as `sdn validate` prints them.
    public var diagnostics: [String]

    public init(node: String, revision: RevisionNumber, text: String, steps: Int, firewallChanges: Int, conflicts: [String], diagnostics: [String]) {
        self.node = node
        self.revision = revision
        self.text = text
        self.steps = steps
        self.firewallChanges = firewallChanges
        self.conflicts = conflicts
        self.diagnostics = diagnostics
    }
}

/// The result of one apply on this node.
public struct NodeApplyResult: Codable, Hashable, Sendable {
    public var node: String
    public var revision: RevisionNumber
    public var converged: Bool
    /// `up-to-date`, `converged`, `failed`, `refused`, `diverged`, `cannot-observe`, `invalid`.
    public var outcome: String
    public var errors: [String]
    public var stepsApplied: Int
    public var linkWrites: Int
    public var firewallMessages: Int
    public var milliseconds: Double
    /// The target generation this apply chose (`sdn apply --wait` waits for every live node to hold it).
    public var generation: Int64?

    public init(node: String, revision: RevisionNumber, converged: Bool, outcome: String, errors: [String],
                stepsApplied: Int, linkWrites: Int, firewallMessages: Int, milliseconds: Double, generation: Int64? = nil) {
        self.generation = generation
        self.node = node
        self.revision = revision
        self.converged = converged
        self.outcome = outcome
        self.errors = errors
        self.stepsApplied = stepsApplied
        self.linkWrites = linkWrites
        self.firewallMessages = firewallMessages
        self.milliseconds = milliseconds
    }
}

/// One node's state as `sdn status` shows it.
public struct NodeStatusReport: Codable, Hashable, Sendable {
    public var node: String
    public var targetRevision: RevisionNumber?
    public var appliedRevision: RevisionNumber?
    public var headRevision: RevisionNumber?
    /// head ≠ target: there are changes nobody applied yet.
    public var pendingChanges: Bool
    /// The kernel differs from the applied revision (found by the last check, not yet repaired).
    public var drift: Bool
    public var lastError: String?
    public var lastReconcile: Date?
    /// Guest ports present in the kernel and attached (`tap101i0`), and declared ones not present.
    public var portsPlugged: [String]
    public var portsMissing: [String]
    /// `repair` or `report`.
    public var driftMode: String
    /// The target's generation (one more for each choice of target), and the one this node holds.
    public var targetGeneration: Int64?
    public var appliedGeneration: Int64?
    /// Why the store cannot be reached now (the node keeps enforcing what it applied), nil when it can.
    public var storeError: String?

    public init(node: String, targetRevision: RevisionNumber?, appliedRevision: RevisionNumber?, headRevision: RevisionNumber?,
                pendingChanges: Bool, drift: Bool, lastError: String?, lastReconcile: Date?, portsPlugged: [String],
                portsMissing: [String], driftMode: String, targetGeneration: Int64? = nil, appliedGeneration: Int64? = nil,
                storeError: String? = nil) {
        self.targetGeneration = targetGeneration
        self.appliedGeneration = appliedGeneration
        self.storeError = storeError
        self.node = node
        self.targetRevision = targetRevision
        self.appliedRevision = appliedRevision
        self.headRevision = headRevision
        self.pendingChanges = pendingChanges
        self.drift = drift
        self.lastError = lastError
        self.lastReconcile = lastReconcile
        self.portsPlugged = portsPlugged
        self.portsMissing = portsMissing
        self.driftMode = driftMode
    }
}

/// What the HTTP API asks of the node's controller. `NodeController` is the implementation; the API's
/// own tests may use a scripted one to test routing and errors, never to claim a capability.
public protocol NodeControl: Sendable {
    var nodeName: String { get }
    /// What applying `revision` (default: the head) would do now; nothing is written.
    func plan(revision: RevisionNumber?) async throws -> NodePlan
    /// Makes `revision` (default: the head) the target and applies it now; returns when this node has
    /// applied it (or failed).
    func apply(revision: RevisionNumber?, author: String) async throws -> NodeApplyResult
    func status() async throws -> NodeStatusReport
    /// Events from now on; the stream ends when the subscriber stops listening or the daemon stops.
    func events() -> AsyncStream<DaemonEvent>
    /// KVM guest `guest`'s taps made and attached with their firewall (the libvirt hook's `prepare`).
    func preparePorts(guest: Int) async throws -> GuestPortsReport
    /// The host end of an LXC guest's veth attached with its firewall (the `lxc.net.N.script.up` hook).
    func plugPort(named: String) async throws -> GuestPortsReport
    /// Guest `guest`'s ports that are left removed (the libvirt hook's `release`, `lxc.hook.stop`).
    func releasePorts(guest: Int) async throws -> GuestPortsReport
    /// Every guest of the applied revision; this node's with their state, ports and counters.
    func guests() async throws -> GuestsReport
}

extension NodeControl {
    public func preparePorts(guest: Int) async throws -> GuestPortsReport { throw NodeControlError.kernel("this node does not manage guest ports") }
    public func plugPort(named: String) async throws -> GuestPortsReport { throw NodeControlError.kernel("this node does not manage guest ports") }
    public func releasePorts(guest: Int) async throws -> GuestPortsReport { throw NodeControlError.kernel("this node does not manage guest ports") }
    public func guests() async throws -> GuestsReport { GuestsReport(node: nodeName, revision: nil, guests: []) }
}
