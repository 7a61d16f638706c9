extension DesiredState {
    /// The guests whose firewall policy was added, changed or removed since `old`, when nothing else
    /// differs; nil when anything else does (topology, options, security groups, IP sets, aliases,
    /// another scope's policy). An empty set: the two states are the same network.
    ///
    /// This decides whether a change can take the incremental path (validate, compile and apply those
    /// guests only): the rest of the ruleset depends on none of the guests' policies.
    public func guestPolicyChanges(since old: DesiredState) -> Set<Int>? {
        var rest = self, oldRest = old
        rest.firewall.guests = []
        oldRest.firewall.guests = []
        guard rest == oldRest else { return nil }
        let policies = Self.guestPolicies(firewall.guests), oldPolicies = Self.guestPolicies(old.firewall.guests)
        guard let policies, let oldPolicies else { return nil }
        var changed: Set<Int> = []
        for id in Set(policies.keys).union(oldPolicies.keys) where policies[id] != oldPolicies[id] {
            changed.insert(id)
        }
        return changed
    }

    /// Guest policies by guest id; nil when one is given twice (validation's business, not a delta's).
    private static func guestPolicies(_ policies: [FirewallPolicy]) -> [Int: FirewallPolicy]? {
        var byID: [Int: FirewallPolicy] = [:]
        for policy in policies {
            guard case .guest(let id) = policy.scope, byID.updateValue(policy, forKey: id) == nil else { return nil }
        }
        return byID
    }
}
