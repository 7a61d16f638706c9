/// Rules for object names (zones, vnets, nodes, groups, aliases, IP sets): a letter first, then letters,
/// digits, `-` and `_`. Names of objects that become interface names are further limited by `InterfaceNaming`.
public enum Identifier {
    public static let maximumLength = 63
    /// Rule ids are shorter: a compiled rule's comment (`<chain>/<rule id>/<n>/log`) must fit nft's 128
    /// characters and its log prefix (`sdn <chain> <rule id> REJECT: `) the kernel's 127, and the longest
    /// chain is a security group's `group-<63 characters>-out` (73).
    public static let ruleIDMaximumLength = 32

    public static func problem(with name: String, maximumLength: Int = Identifier.maximumLength) -> String? {
        guard let first = name.unicodeScalars.first else { return "a name cannot be empty" }
        guard first.properties.isAlphabetic, first.isASCII else {
            return "'\(name)' must start with a letter"
        }
        if name.count > maximumLength { return "'\(name)' is longer than \(maximumLength) characters" }
        if let bad = name.unicodeScalars.first(where: { !($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")) }) {
            return "'\(name)' contains '\(bad.escaped(asASCII: true))'; names use letters, digits, '-' and '_'"
        }
        return nil
    }

    /// Why `id` is not a valid explicit rule id, or nil.
    public static func ruleIDProblem(with id: String) -> String? {
        problem(with: id, maximumLength: ruleIDMaximumLength)
    }
}

/// A path to a value inside the configuration, printed like `vnets.web.subnets["10.0.0.0/24"].gateway`.
public struct ConfigPath: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    /// Topology and policy documents both have `nodes`, `vnets` and `guests` keys; the domain keeps
    /// their paths apart without making people write a prefix.
    public enum Domain: Hashable, Sendable { case topology, policy }

    public var domain: Domain
    public var components: [Component]

    public init(domain: Domain = .topology, _ components: [Component] = []) {
        self.domain = domain
        self.components = components
    }

    public static let topology = ConfigPath(domain: .topology)
    public static let policy = ConfigPath(domain: .policy)

    public func appending(_ key: String) -> ConfigPath { ConfigPath(domain: domain, components + [.key(key)]) }
    public func appending(index: Int) -> ConfigPath { ConfigPath(domain: domain, components + [.index(index)]) }
    public static func / (lhs: ConfigPath, rhs: String) -> ConfigPath { lhs.appending(rhs) }
    public static func / (lhs: ConfigPath, rhs: Int) -> ConfigPath { lhs.appending(index: rhs) }

    public var parent: ConfigPath? { components.isEmpty ? nil : ConfigPath(domain: domain, Array(components.dropLast())) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .index(let index): text += "[\(index)]"
            case .key(let key):
                let plain = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }
                if plain {
                    text += text.isEmpty ? key : "." + key
                } else {
                    text += "[\"\(key)\"]"
                }
            }
        }
        return text
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.description < rhs.description }
}

/// Where each value of the configuration was written. Validation looks a path up, and falls back to
/// its nearest ancestor, so every diagnostic gets the most precise location known.
public struct SourceMap: Hashable, Sendable {
    private var locations: [ConfigPath: SourceLocation] = [:]
    /// Locations of keys (as opposed to values), for "duplicate name" and "unknown key" messages.
    private var keyLocations: [ConfigPath: SourceLocation] = [:]

    public init() {}

    public mutating func record(_ path: ConfigPath, value location: SourceLocation?, key keyLocation: SourceLocation? = nil) {
        if let location, locations[path] == nil { locations[path] = location }
        if let keyLocation, keyLocations[path] == nil { keyLocations[path] = keyLocation }
    }

    public mutating func merge(_ other: SourceMap) {
        locations.merge(other.locations) { mine, _ in mine }
        keyLocations.merge(other.keyLocations) { mine, _ in mine }
    }

    /// The location of the value at `path`, or of its nearest recorded ancestor.
    public func location(of path: ConfigPath) -> SourceLocation? {
        var current: ConfigPath? = path
        while let candidate = current {
            if let found = locations[candidate] ?? keyLocations[candidate] { return found }
            current = candidate.parent
        }
        return nil
    }

    /// The location of the key naming `path` (falls back to the value's location).
    public func keyLocation(of path: ConfigPath) -> SourceLocation? {
        keyLocations[path] ?? location(of: path)
    }
}
