public import SDNDataplane
import SDNModel
public import SDNHostNetwork

/// Turns (desired, observed) into an ordered plan. Pure: no kernel, no clock, deterministic.
///
/// Order: links that must be recreated are deleted (children first) and every missing link is created
/// down (parents first); live links get their in-place changes and flaps; ports are attached; addresses,
/// FDB entries, bridge VLANs, uplinks' accept_ra and forwarding are added; then the firewall
/// transaction; then node-wide forwarding; only then do new links come up — so no new port carries a
/// packet, and the node routes nothing new, before its rules exist. Stale state goes last: addresses,
/// entries and links we own that the topology no longer names (children first).
///
/// Node-wide forwarding and accept_ra are only ever raised: a node that no longer routes IPv6 keeps
/// `net.ipv6.conf.all.forwarding` on and its uplinks at accept_ra 2 (the plan says so in a note).
/// Turning forwarding off could break routing that something else set up on the node; lowering
/// accept_ra while it forwards would drop the default route learned by SLAAC.
public enum Planner {
    public static func plan(desired: NodeNetwork, observed: ObservedNetwork, firewall: FirewallTransaction? = nil) -> Plan {
        var planning = Planning(desired: desired, observed: observed)
        planning.run(firewall: firewall)
        return planning.plan
    }
}

private struct Planning {
    let desired: NodeNetwork
    let observed: ObservedNetwork
    var plan: Plan

    let observedLinks: [String: ObservedLink]
    let desiredLinks: [String: DesiredLink]
    /// Desired links that will not be touched (a conflict, or an adopted link that is not there).
    var skipped: Set<String> = []
    /// Desired links that do not exist and will be created (including recreated ones).
    var fresh: Set<String> = []
    /// Observed links that go away before anything is created (recreated ones) and at the end (stale ones).
    var recreated: Set<String> = []
    var stale: Set<String> = []

    init(desired: NodeNetwork, observed: ObservedNetwork) {
        self.desired = desired
        self.observed = observed
        plan = Plan(node: desired.node, notes: desired.notes)
        observedLinks = Dictionary(observed.links.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        desiredLinks = Dictionary(desired.links.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    mutating func step(_ category: PlanStep.Category, _ subject: String, owner: String? = nil, _ detail: String,
                       _ operation: LinkOperation, undo: [LinkOperation]) {
        plan.steps.append(PlanStep(category: category, subject: subject, owner: owner, detail: detail,
                                   action: .link(operation), undo: undo.map { .link($0) }))
    }

    // MARK: the run

    mutating func run(firewall: FirewallTransaction?) {
        // First pass: what exists, what conflicts, what must be recreated.
        var recreateReasons: [String: String] = [:]
        for link in desired.links {
            let name = link.spec.name
            guard let seen = observedLinks[name] else {
                if link.ownership == .owned {
                    fresh.insert(name)
                } else {
                    skipped.insert(name)
                    plan.notes.append("\(name) (\(link.owner)) is not present yet: sdnd attaches it when it appears; without sdnd, run sdn apply again once it exists (until then it is not in its bridge)")
                }
                continue
            }
            if link.ownership == .owned && !seen.spec.isOwned {
                skipped.insert(name)
                plan.conflicts.append("\(name) exists and was not created by sdn (its ifalias has no 'sdn:' mark); sdn will not change or replace it. Remove it, or rename the \(link.owner) in the topology")
                continue
            }
            let recreating = LinkComparison.changes(desired: link, observed: seen.spec).filter { $0.disruption == .recreate }
            if !recreating.isEmpty {
                recreated.insert(name)
                recreateReasons[name] = recreating.map(\.summary).joined(separator: ", ")
            }
        }
        // Links we own that the topology no longer names.
        for link in observed.links where link.spec.isOwned && desiredLinks[link.spec.name] == nil {
            stale.insert(link.spec.name)
        }
        // A link built on a recreated link goes with it (the kernel deletes it), so it is recreated too.
        var grew = true
        while grew {
            grew = false
            for link in observed.links where !recreated.contains(link.spec.name) && !stale.contains(link.spec.name) {
                let parents = link.spec.kind.kernelParents
                if parents.contains(where: recreated.contains) {
                    if desiredLinks[link.spec.name]?.ownership == .owned {
                        recreated.insert(link.spec.name)
                    } else {
                        stale.insert(link.spec.name)
                    }
                    grew = true
                }
            }
        }
        fresh.formUnion(recreated)

        // Second pass: live links against the state they will be in once the recreated ones are gone.
        let effective = effectiveObserved()
        let effectiveLinks = Dictionary(effective.links.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        var changesByLink: [String: [AttributeChange]] = [:]
        for link in desired.links where !fresh.contains(link.spec.name) && !skipped.contains(link.spec.name) {
            guard let seen = effectiveLinks[link.spec.name] else { continue }
            changesByLink[link.spec.name] = LinkComparison.changes(desired: link, observed: seen.spec)
        }

        // 1. Recreated links go first, children before parents.
        for name in deletionOrder(recreated) {
            guard let link = observedLinks[name] else { continue }
            step(.recreate, "link \(name)", owner: desiredLinks[name]?.owner, recreateReasons[name] ?? "its parent is recreated",
                 .deleteLink(name: name), undo: restoreOperations(for: link))
        }
        // 2. Missing links are created down, parents before children.
        for name in creationOrder(fresh) {
            guard let link = desiredLinks[name] else { continue }
            var spec = link.spec
            spec.up = false
            spec.master = nil
            step(recreated.contains(name) ? .recreate : .create, "link \(name)", owner: link.owner, recreated.contains(name) ? "created again" : "new",
                 .createLink(spec), undo: [.deleteLink(name: name)])
        }
        // 3. Live links: in-place changes, and flaps (down, change, up) where the kernel needs it.
        for link in desired.links {
            let name = link.spec.name
            guard !fresh.contains(name), !skipped.contains(name), let changes = changesByLink[name], !changes.isEmpty else { continue }
            let flaps = changes.filter { $0.disruption == .flap }
            let wasUp = observedLinks[name]?.spec.up ?? false
            if !flaps.isEmpty && wasUp {
                step(.flap, "link \(name)", owner: link.owner, "down for " + flaps.map(\.attribute.rawValue).joined(separator: ", "),
                     .setUp(name: name, up: false), undo: [.setUp(name: name, up: true)])
            }
            // A bond member must be down to be enslaved.
            let joinsBond = changes.contains { $0.attribute == .master } && isBond(link.spec.master)
            if joinsBond && wasUp && flaps.isEmpty {
                step(.flap, "link \(name)", owner: link.owner, "down to join bond \(link.spec.master!)",
                     .setUp(name: name, up: false), undo: [.setUp(name: name, up: true)])
            }
            for change in changes {
                guard let operation = change.operation else { continue }
                step(change.disruption == .flap ? .flap : .change, "link \(name)", owner: link.owner, change.summary, operation,
                     undo: change.undo.map { [$0] } ?? [])
            }
            if (!flaps.isEmpty || joinsBond) && wasUp && link.spec.up {
                step(.flap, "link \(name)", owner: link.owner, "up again", .setUp(name: name, up: true), undo: [.setUp(name: name, up: false)])
            }
        }
        // 4. New links join their bridges and bonds.
        for name in creationOrder(fresh) {
            guard let link = desiredLinks[name] else { continue }
            if let master = link.spec.master {
                step(category(name), "link \(name)", owner: link.owner, "port of \(master)", .setMaster(name: name, master: master), undo: [])
            }
            if let port = link.spec.bridgePort, link.spec.master != nil, port != BridgePortSettings() {
                step(category(name), "link \(name)", owner: link.owner, LinkComparison.portSummary(port), .setBridgePort(name: name, settings: port), undo: [])
            }
        }
        // A bridge created with an MTU follows its smallest port when ports join, unless its MTU was
        // set afterwards: set it again once the ports are in.
        for name in creationOrder(fresh) {
            guard let link = desiredLinks[name], case .bridge = link.spec.kind, let mtu = link.spec.mtu,
                  desired.links.contains(where: { $0.spec.master == name }) else { continue }
            step(category(name), "link \(name)", owner: link.owner, "mtu \(mtu) once its ports are in", .setMTU(name: name, mtu: mtu), undo: [])
        }
        // 5. What lives on the links.
        planAddresses(effective)
        planFDB(effective)
        planBridgeVLANs(effective)
        planRouterAdvertisements(effective)
        planForwarding(effective)
        planRoutes(effective, adding: true)
        // 6. The firewall, before any new port comes up.
        if let firewall, !firewall.changes.isEmpty {
            plan.steps.append(PlanStep(
                category: .firewall, subject: "firewall", detail: "\(firewall.changes.count) change\(firewall.changes.count == 1 ? "" : "s") in one transaction",
                action: .firewall(firewall),
                undo: [.firewall(FirewallTransaction(changes: firewall.undo, undo: firewall.changes, expectedGeneration: nil))]))
        }
        // 6b. The node starts routing what it did not route before only once the firewall is in.
        planNodeForwarding(effective)
        // 7. Links come up.
        let comingUp = desired.links.filter { link in
            link.spec.up && !skipped.contains(link.spec.name) && (fresh.contains(link.spec.name) || observedLinks[link.spec.name]?.spec.up == false)
        }
        for name in creationOrder(Set(comingUp.map(\.spec.name))) {
            guard let link = desiredLinks[name] else { continue }
            if fresh.contains(name) {
                step(category(name), "link \(name)", owner: link.owner, "up", .setUp(name: name, up: true), undo: [])
            } else if let seen = observedLinks[name], !seen.spec.up {
                step(.change, "link \(name)", owner: link.owner, "up", .setUp(name: name, up: true), undo: [.setUp(name: name, up: false)])
            }
        }
        // 8. Stale state, then stale links (children first).
        planStaleAddresses(effective)
        planStaleFDB(effective)
        planRoutes(effective, adding: false)
        for name in deletionOrder(stale) {
            guard let link = observedLinks[name] else { continue }
            step(.delete, "link \(name)", owner: link.spec.owner, "not in the topology", .deleteLink(name: name), undo: restoreOperations(for: link))
        }
    }

    func category(_ name: String) -> PlanStep.Category { recreated.contains(name) ? .recreate : .create }

    func isBond(_ name: String?) -> Bool {
        guard let name, let link = desiredLinks[name] else { return false }
        if case .bond = link.spec.kind { return true }
        return false
    }

    // MARK: ordering

    /// How many kernel parents (VLAN parent, macvlan lower device, VXLAN underlay device) stand above
    /// each desired link; computed once per plan.
    lazy var creationDepths: [String: Int] = {
        var depths: [String: Int] = [:]
        func depth(_ name: String, _ trail: Set<String>) -> Int {
            if let known = depths[name] { return known }
            guard let kind = desiredLinks[name]?.spec.kind, !trail.contains(name) else { return 0 }
            let value = kind.kernelParents.map { depth($0, trail.union([name])) + 1 }.max() ?? 0
            depths[name] = value
            return value
        }
        for link in desired.links { _ = depth(link.spec.name, []) }
        return depths
    }()

    lazy var declarationOrder: [String: Int] = Dictionary(desired.links.enumerated().map { ($1.spec.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// Parents first, then as declared.
    mutating func creationOrder(_ names: Set<String>) -> [String] {
        if names.isEmpty { return [] }
        let depths = creationDepths
        let order = declarationOrder
        // Keys computed once: sorting thousands of links must not hash names in every comparison.
        return names.map { (depth: depths[$0] ?? 0, order: order[$0] ?? 0, name: $0) }
            .sorted { ($0.depth, $0.order) < ($1.depth, $1.order) || (($0.depth, $0.order) == ($1.depth, $1.order) && $0.name < $1.name) }
            .map(\.name)
    }

    /// Children first: ports and VLANs before what they hang off.
    func deletionOrder(_ names: Set<String>) -> [String] {
        func depth(_ name: String, _ seen: Set<String>) -> Int {
            guard let link = observedLinks[name]?.spec, !seen.contains(name) else { return 0 }
            let above = link.kind.kernelParents + (link.master.map { [$0] } ?? [])
            return above.map { depth($0, seen.union([name])) + 1 }.max() ?? 0
        }
        return names.sorted { (-depth($0, []), $0) < (-depth($1, []), $1) }
    }

    // MARK: the state the rest of the plan starts from

    /// The observed state once the recreated links are gone: what was on them is gone too, their ports
    /// have no master, and ports leaving a bridge lose their VLANs.
    func effectiveObserved() -> ObservedNetwork {
        let gone = recreated
        if gone.isEmpty { return observed }
        var network = observed
        network.links = observed.links.filter { !gone.contains($0.spec.name) }.map { link in
            var link = link
            if let master = link.spec.master, gone.contains(master) { link.spec.master = nil }
            return link
        }
        let orphanedPorts = Set(observed.links.filter { $0.spec.master.map(gone.contains) ?? false }.map(\.spec.name))
        network.addresses.removeAll { gone.contains($0.interface) }
        network.fdb.removeAll { gone.contains($0.interface) || (orphanedPorts.contains($0.interface) && $0.kind == .bridgeStatic) }
        network.bridgeVLANs.removeAll { gone.contains($0.interface) || (orphanedPorts.contains($0.interface) && !$0.onBridgeItself) }
        network.forwarding.removeAll { gone.contains($0.interface) }
        network.routerAdvertisements.removeAll { gone.contains($0.interface) }
        network.routes.removeAll { $0.interface.map(gone.contains) ?? false }
        return network
    }

    /// Writes that bring back a link this plan deletes, as it was.
    func restoreOperations(for link: ObservedLink) -> [LinkOperation] {
        let name = link.spec.name
        var spec = link.spec
        spec.up = false
        spec.master = nil
        var operations: [LinkOperation] = [.createLink(spec)]
        if let master = link.spec.master { operations.append(.setMaster(name: name, master: master)) }
        if let port = link.spec.bridgePort, link.spec.master != nil { operations.append(.setBridgePort(name: name, settings: port)) }
        // Ports that stay in the kernel lose their master with it.
        for port in observed.links where port.spec.master == name && !recreated.contains(port.spec.name) && !stale.contains(port.spec.name) {
            operations.append(.setMaster(name: port.spec.name, master: name))
        }
        operations += observed.addresses.filter { $0.interface == name }.map { .addAddress($0) }
        operations += observed.fdb.filter { $0.interface == name }.map { .addFDB($0) }
        operations += observed.bridgeVLANs.filter { $0.interface == name }.map { .addBridgeVLAN($0) }
        if link.spec.up { operations.append(.setUp(name: name, up: true)) }
        return operations
    }

    /// Links whose addresses, FDB and VLANs `sdn` manages in full (extras are removed).
    func isOwned(_ interface: String) -> Bool { desiredLinks[interface]?.ownership == .owned || stale.contains(interface) }
    func isPlanned(_ interface: String) -> Bool { desiredLinks[interface] != nil && !skipped.contains(interface) }

    // MARK: what lives on links

    mutating func planAddresses(_ effective: ObservedNetwork) {
        let have = Set(effective.addresses)
        for address in desired.addresses where isPlanned(address.interface) && !have.contains(address) {
            step(fresh.contains(address.interface) ? category(address.interface) : .change,
                 "address \(address.prefix) on \(address.interface)", owner: desiredLinks[address.interface]?.owner, "new",
                 .addAddress(address), undo: fresh.contains(address.interface) ? [] : [.deleteAddress(address)])
        }
    }

    mutating func planStaleAddresses(_ effective: ObservedNetwork) {
        let want = Set(desired.addresses)
        for address in effective.addresses where isOwned(address.interface) && !stale.contains(address.interface) && !want.contains(address) {
            step(.delete, "address \(address.prefix) on \(address.interface)", "not in the topology", .deleteAddress(address), undo: [.addAddress(address)])
        }
    }

    mutating func planFDB(_ effective: ObservedNetwork) {
        let have = Set(effective.fdb)
        for entry in desired.fdb where isPlanned(entry.interface) && !have.contains(entry) {
            let isNew = fresh.contains(entry.interface)
            step(isNew ? category(entry.interface) : .change, "fdb \(entry.mac) on \(entry.interface)", owner: desiredLinks[entry.interface]?.owner,
                 entry.destination.map { "flood to \($0)" } ?? "static", .addFDB(entry), undo: isNew ? [] : [.deleteFDB(entry)])
        }
    }

    mutating func planStaleFDB(_ effective: ObservedNetwork) {
        let want = Set(desired.fdb)
        for entry in effective.fdb where isPlanned(entry.interface) && !want.contains(entry) {
            // On links we don't own, only the kind of entry we make is ours to remove.
            guard isOwned(entry.interface) || entry.kind == .bridgeStatic else { continue }
            step(.delete, "fdb \(entry.mac) on \(entry.interface)", "not in the topology", .deleteFDB(entry), undo: [.addFDB(entry)])
        }
    }

    mutating func planForwarding(_ effective: ObservedNetwork) {
        struct Key: Hashable { var interface: String; var family: IPAddress.Family }
        guard !desired.forwarding.isEmpty else { return }
        let have = Dictionary(effective.forwarding.map { (Key(interface: $0.interface, family: $0.family), $0.enabled) }, uniquingKeysWith: { first, _ in first })
        for setting in desired.forwarding where isPlanned(setting.interface) {
            let current = fresh.contains(setting.interface) ? nil : have[Key(interface: setting.interface, family: setting.family)]
            guard current != setting.enabled else { continue }
            let undo = current.map { ForwardingSetting(interface: setting.interface, family: setting.family, enabled: $0) }
            step(fresh.contains(setting.interface) ? category(setting.interface) : .change, "forwarding \(setting.family) on \(setting.interface)",
                 owner: desiredLinks[setting.interface]?.owner, setting.enabled ? "on" : "off",
                 .setForwarding(setting), undo: undo.map { [.setForwarding($0)] } ?? [])
        }
    }

    /// Uplinks that take router advertisements only while they do not forward (accept_ra 1) get 2, before
    /// any IPv6 forwarding switch is written: the kernel drops the RA-learned default routes of every
    /// interface without accept_ra 2 whenever an IPv6 forwarding switch (per interface or node-wide) is
    /// set on, and an interface that forwards ignores advertisements below 2. A new uplink starts with
    /// `default`'s value. Interfaces at 0 (advertisements off on purpose) or 2 are left alone.
    mutating func planRouterAdvertisements(_ effective: ObservedNetwork) {
        guard !desired.routerAdvertisementUplinks.isEmpty else { return }
        let have = Dictionary(effective.routerAdvertisements.map { ($0.interface, $0.acceptRA) }, uniquingKeysWith: { first, _ in first })
        for name in desired.routerAdvertisementUplinks where isPlanned(name) {
            let isNew = fresh.contains(name)
            guard (isNew ? effective.defaultAcceptRA : have[name]) == RouterAdvertisementSetting.unlessForwarding else { continue }
            let setting = RouterAdvertisementSetting(interface: name, acceptRA: RouterAdvertisementSetting.evenWhenForwarding)
            let previous = RouterAdvertisementSetting(interface: name, acceptRA: RouterAdvertisementSetting.unlessForwarding)
            step(isNew ? category(name) : .change, "accept_ra on \(name)", owner: desiredLinks[name]?.owner,
                 "1 → 2: keeps taking router advertisements (and a SLAAC default route) once the node forwards IPv6",
                 .setRouterAdvertisements(setting), undo: isNew ? [] : [.setRouterAdvertisements(previous)])
        }
    }

    /// Node-wide forwarding switches the topology needs and the kernel does not have on. Undoing one
    /// turns every interface's switch off with it, so the undo turns back on those that were on.
    mutating func planNodeForwarding(_ effective: ObservedNetwork) {
        for setting in desired.nodeForwarding where setting.enabled {
            let current = effective.nodeForwarding(setting.family)
            guard current != true else { continue }
            var undo: [LinkOperation] = []
            if current == false {
                undo.append(.setNodeForwarding(NodeForwardingSetting(family: setting.family, enabled: false)))
                undo += effective.forwarding.filter { $0.family == setting.family && $0.enabled }.map { .setForwarding($0) }
            }
            let sysctl = setting.family == .ipv4 ? "net.ipv4.conf.all.forwarding" : "net.ipv6.conf.all.forwarding"
            step(.change, sysctl, "\(current == false ? "off → on" : "on"): Linux routes \(setting.family == .ipv4 ? "IPv4" : "IPv6") between vnets only with it on",
                 .setNodeForwarding(setting), undo: undo)
        }
        // Only the IPv6 switch is sdn's to turn on; whether IPv4's is on is not its business.
        if effective.nodeForwarding(.ipv6) == true && !desired.nodeForwarding.contains(where: { $0.family == .ipv6 && $0.enabled }) {
            plan.notes.append("net.ipv6.conf.all.forwarding stays on: no vnet on this node routes IPv6, but sdn never turns node-wide forwarding off (other routing may rely on it); turn it off by hand if nothing needs it")
        }
    }

    mutating func planRoutes(_ effective: ObservedNetwork, adding: Bool) {
        let have = Set(effective.routes.filter { $0.protocol == RouteSpec.ownProtocol })
        let want = Set(desired.routes)
        if adding {
            for route in desired.routes where !have.contains(route) {
                step(.change, "route \(route.destination)", "new", .addRoute(route), undo: [.deleteRoute(route)])
            }
        } else {
            for route in effective.routes where route.protocol == RouteSpec.ownProtocol && !want.contains(route) {
                step(.delete, "route \(route.destination)", "not in the topology", .deleteRoute(route), undo: [.addRoute(route)])
            }
        }
    }

    // MARK: bridge VLANs

    struct VLANKey: Hashable, Comparable {
        var interface: String
        var onBridgeItself: Bool
        static func < (a: Self, b: Self) -> Bool { (a.interface, a.onBridgeItself ? 1 : 0) < (b.interface, b.onBridgeItself ? 1 : 0) }
    }

    /// VLAN-aware bridges in the desired state, with their default pvid.
    var vlanAwareBridges: [String: Int] {
        var bridges: [String: Int] = [:]
        for link in desired.links {
            if case .bridge(let settings) = link.spec.kind, settings.vlanFiltering { bridges[link.spec.name] = settings.defaultPVID }
        }
        return bridges
    }

    mutating func planBridgeVLANs(_ effective: ObservedNetwork) {
        let bridges = vlanAwareBridges
        guard !bridges.isEmpty else { return }
        // The interfaces whose VLANs we manage: VLAN-aware bridges themselves and their ports.
        var managed: [VLANKey: Int] = [:]   // key → the bridge's default pvid
        for link in desired.links where isPlanned(link.spec.name) {
            if let pvid = bridges[link.spec.name] { managed[VLANKey(interface: link.spec.name, onBridgeItself: true)] = pvid }
            if let master = link.spec.master, let pvid = bridges[master] { managed[VLANKey(interface: link.spec.name, onBridgeItself: false)] = pvid }
        }
        func byInterface(_ entries: [BridgeVLANEntry]) -> [VLANKey: [Int: BridgeVLANFlags]] {
            Dictionary(grouping: entries) { VLANKey(interface: $0.interface, onBridgeItself: $0.onBridgeItself) }.mapValues(BridgeVLANEntry.flagsByVID)
        }
        let want = byInterface(desired.bridgeVLANs.filter { managed[VLANKey(interface: $0.interface, onBridgeItself: $0.onBridgeItself)] != nil })
        let have = byInterface(effective.bridgeVLANs)
        let effectiveMasters = Dictionary(effective.links.map { ($0.spec.name, $0.spec.master) }, uniquingKeysWith: { first, _ in first })
        for (key, defaultPVID) in managed.sorted(by: { $0.key < $1.key }) {
            var current = have[key] ?? [:]
            // The kernel gives a new bridge, and a port joining one, the bridge's default pvid untagged.
            let isNewBridge = key.onBridgeItself && fresh.contains(key.interface)
            let joins = !key.onBridgeItself && effectiveMasters[key.interface].flatMap { $0 } != desiredLinks[key.interface]?.spec.master
            if (isNewBridge || joins) && defaultPVID > 0 {
                current = [defaultPVID: BridgeVLANFlags(pvid: true, untagged: true)]
            }
            let target = want[key] ?? [:]
            let isNew = fresh.contains(key.interface) || joins
            let owner = desiredLinks[key.interface]?.owner
            func entries(_ vids: [Int: BridgeVLANFlags]) -> [BridgeVLANEntry] {
                BridgeVLANEntry.entries(interface: key.interface, onBridgeItself: key.onBridgeItself, vids: vids)
            }
            for entry in entries(target.filter { current[$0.key] != $0.value }) {
                let previous = entries(current.filter { entry.vids.contains($0.key) }).map(LinkOperation.addBridgeVLAN)
                step(isNew ? category(key.interface) : .change, "vlan \(entry.summary)", owner: owner, "new", .addBridgeVLAN(entry),
                     undo: isNew ? [] : [.deleteBridgeVLAN(entry)] + previous)
            }
            for entry in entries(current.filter { target[$0.key] == nil }) {
                step(isNew ? category(key.interface) : .delete, "vlan \(entry.summary)", owner: owner, "not in the topology", .deleteBridgeVLAN(entry),
                     undo: isNew ? [] : [.addBridgeVLAN(entry)])
            }
        }
    }
}
