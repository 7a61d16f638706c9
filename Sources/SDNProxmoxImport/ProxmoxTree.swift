import SDNModel

/// A copy of a Proxmox VE cluster's configuration, as files keyed by their path relative to the copy's
/// root (the layout of `/etc/pve`, plus each node's `/etc/network/interfaces`):
///
///     firewall/cluster.fw                      datacenter firewall
///     firewall/<vmid>.fw                       guest firewalls
///     nodes/<node>/host.fw                     host firewalls
///     nodes/<node>/qemu-server/<vmid>.conf     VMs (their netN: lines)
///     nodes/<node>/lxc/<vmid>.conf             containers (their netN: lines)
///     nodes/<node>/interfaces                  a copy of the node's /etc/network/interfaces
///     sdn/{zones,vnets,subnets,controllers,ipams,dns}.cfg
///     sdn/firewall/<vnet>.fw                   vnet firewalls (Proxmox VE 8.3+)
///
/// Reading the files is the caller's job (the CLI, a test), which keeps the importer free of I/O.
public struct ProxmoxTree: Sendable, Hashable {
    /// File texts by relative path (`firewall/cluster.fw`).
    public var files: [String: String]
    /// Paths the caller saw but did not read, because `isRelevant` said no; the report lists them.
    public var skipped: [String]
    /// Files that exist but could not be read, with the reason.
    public var unreadable: [String: String]

    public init(files: [String: String], skipped: [String] = [], unreadable: [String: String] = [:]) {
        self.files = files
        self.skipped = skipped
        self.unreadable = unreadable
    }

    /// Whether the importer reads the file at `path` (relative to the tree's root). Everything else in
    /// `/etc/pve` (storage, users, corosync, HA, …) is not networking and is only listed.
    public static func isRelevant(_ path: String) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        switch parts.count {
        case 2:
            if parts[0] == "firewall" { return parts[1].hasSuffix(".fw") }
            if parts[0] == "sdn" { return parts[1].hasSuffix(".cfg") }
            return false
        case 3:
            if parts[0] == "nodes" { return parts[2] == "host.fw" || parts[2] == "interfaces" }
            if parts[0] == "sdn" && parts[1] == "firewall" { return parts[2].hasSuffix(".fw") }
            return false
        case 4:
            return parts[0] == "nodes" && ["qemu-server", "lxc"].contains(parts[2]) && parts[3].hasSuffix(".conf")
        default:
            return false
        }
    }

    /// Node names: the directories under `nodes/`, sorted.
    public var nodeNames: [String] {
        var names = Set<String>()
        for path in files.keys {
            let parts = path.split(separator: "/")
            if parts.count >= 3, parts[0] == "nodes" { names.insert(String(parts[1])) }
        }
        return names.sorted()
    }

    /// Paths below `prefix` whose name ends in `suffix`, sorted numerically where the names are numbers.
    func paths(under prefix: String, suffix: String) -> [String] {
        files.keys.filter { path in
            guard path.hasPrefix(prefix), path.hasSuffix(suffix) else { return false }
            return !path.dropFirst(prefix.count).contains("/")
        }.sorted { lhs, rhs in
            let a = Int(lhs.dropFirst(prefix.count).dropLast(suffix.count)), b = Int(rhs.dropFirst(prefix.count).dropLast(suffix.count))
            if let a, let b, a != b { return a < b }
            return lhs < rhs
        }
    }
}

/// One line of an input file with its position, as the parsers see it.
struct SourceLine {
    var file: String
    var number: Int
    /// The line as written (without the newline).
    var raw: Substring
    /// The line without leading and trailing white space.
    var text: Substring
    /// 1-based column where `text` starts.
    var column: Int

    var location: SourceLocation { SourceLocation(file: file, line: number, column: column) }

    /// The location of a piece of `text` (a substring of it).
    func location(of piece: Substring) -> SourceLocation {
        SourceLocation(file: file, line: number, column: column + text.unicodeScalars.distance(from: text.startIndex, to: piece.startIndex))
    }

    func location(offset: Int) -> SourceLocation { SourceLocation(file: file, line: number, column: column + offset) }

    static func lines(of text: String, file: String) -> [SourceLine] {
        var result: [SourceLine] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = raw
            if line.last == "\r" { line = line.dropLast() }
            let leading = line.prefix { $0 == " " || $0 == "\t" }
            var trimmed = line.dropFirst(leading.count)
            while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
            result.append(SourceLine(file: file, number: number, raw: line, text: trimmed, column: leading.unicodeScalars.count + 1))
        }
        // A final newline does not start another line.
        if text.hasSuffix("\n"), let last = result.last, last.raw.isEmpty { result.removeLast() }
        return result
    }
}
