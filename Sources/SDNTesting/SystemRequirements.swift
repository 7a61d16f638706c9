import Foundation
public import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test only where the system provides what it needs, and otherwise skips it with a
    /// comment that names exactly what is missing, e.g. `needs root (running as uid 1000)` or
    /// `` `nft` not found in PATH `` — a system test is skipped visibly, never passed silently.
    ///
    ///     @Test(.systemTest(tools: ["ip"], linkKinds: ["vxlan"]))
    ///     func createsVXLAN() throws { … }
    ///
    /// - Parameters:
    ///   - requiresRoot: needs effective uid 0 (namespaces, netlink changes, nftables).
    ///   - tools: executables that must exist in `PATH` or the sbin/bin directories.
    ///   - linkKinds: link types the kernel must be able to create, e.g. `"bridge"`, `"vxlan"`,
    ///     `"bond"`; extra `ip link add … type` arguments may follow the kind, e.g.
    ///     `"bridge vlan_filtering 1"`. Probed once per process by really creating one in a throwaway
    ///     namespace, since a module list can't tell what a kernel actually supports.
    ///   - paths: files or devices that must exist, e.g. `"/dev/kvm"`, `"/dev/net/tun"`.
    public static func systemTest(
        requiresRoot: Bool = true,
        tools: [String] = [],
        linkKinds: [String] = [],
        paths: [String] = [],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> Self {
        let requirements = SystemRequirements(requiresRoot: requiresRoot, tools: tools, linkKinds: linkKinds, paths: paths)
        let missing = requirements.missing()
        let comment = missing.isEmpty ? nil : Comment(rawValue: missing.joined(separator: "; "))
        return .enabled(if: missing.isEmpty, comment, sourceLocation: sourceLocation)
    }
}

/// What a system test needs from the machine, and a description of what is missing.
///
/// The conditions are checked when the trait is made (test discovery), because the skip comment
/// has to be known then; the results are cheap or cached.
struct SystemRequirements {
    var requiresRoot: Bool
    var tools: [String]
    var linkKinds: [String]
    var paths: [String]

    /// One phrase per missing requirement; empty when everything is there.
    func missing() -> [String] {
        var missing: [String] = []
        let isRoot = geteuid() == 0
        if requiresRoot && !isRoot {
            missing.append("needs root (running as uid \(geteuid()))")
        }
        for tool in tools where ExecutableLookup.find(tool) == nil {
            missing.append("`\(tool)` not found in PATH")
        }
        for path in paths where !FileManager.default.fileExists(atPath: path) {
            missing.append("`\(path)` does not exist")
        }
        if !linkKinds.isEmpty {
            if !isRoot {
                missing.append("cannot probe link kinds \(linkKinds.joined(separator: ", ")) without root")
            } else if ExecutableLookup.find("ip") == nil {
                missing.append("cannot probe link kinds \(linkKinds.joined(separator: ", ")): `ip` not found in PATH")
            } else {
                missing += linkKinds.compactMap(LinkKindProbe.problem(with:))
            }
        }
        return missing
    }
}
