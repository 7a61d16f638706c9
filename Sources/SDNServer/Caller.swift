import Foundation
public import SDNStore

/// Who sent a request and what they may do: the trusted Unix socket, or a token on TCP.
public struct Caller: Sendable, Hashable {
    /// How the audit log names the caller: `unix`, `unix:uid=N`, `token:<id>`.
    public var actor: String
    /// nil: trusted (the Unix socket), allowed everything.
    public var role: Role?
    /// Object paths the caller is limited to (`/` for all).
    public var pathPrefix: String

    public static func unix(uid: UInt32?) -> Caller {
        Caller(actor: uid.map { "unix:uid=\($0)" } ?? "unix", role: nil, pathPrefix: "/")
    }

    public static func token(_ token: APIToken) -> Caller {
        Caller(actor: "token:\(token.id)", role: token.role, pathPrefix: token.pathPrefix)
    }
}

/// What a request does to an object path.
public enum Operation: String, Sendable, Hashable {
    /// Reading the desired state, history, status, audit, events, metrics.
    case read
    /// Changing the desired state.
    case write
    /// Planning and applying (the node's kernel, not the desired state).
    case operate
    /// Creating, listing and revoking API tokens.
    case tokens
}

/// The role model, Proxmox-style: privileges on object paths (`/vnets/web`, `/guests/101/firewall`,
/// `/firewall/ipsets/blocklist`); `/` is the whole state.
public enum AccessPolicy {
    public static func permits(_ caller: Caller, _ operation: Operation, on path: String) -> Bool {
        guard let role = caller.role else { return true }
        guard isUnder(path, caller.pathPrefix) else { return false }
        switch role {
        case .administrator: return true
        case .auditor: return operation == .read
        case .networkAdmin:
            switch operation {
            case .read, .operate: return true
            case .tokens: return false
            case .write: return isTopology(path)
            }
        case .firewallAdmin:
            switch operation {
            case .read, .operate: return true
            case .tokens: return false
            case .write: return isFirewall(path)
            }
        }
    }

    /// Why `permits` said no, for the 403's message.
    public static func refusal(_ caller: Caller, _ operation: Operation, on path: String) -> String {
        let role = caller.role?.rawValue ?? "trusted"
        if !isUnder(path, caller.pathPrefix) {
            return "the token is limited to \(caller.pathPrefix) and \(path) is outside it; use a token whose path prefix covers \(path)"
        }
        let what = switch operation {
        case .read: "read"
        case .write: "write"
        case .operate: "plan or apply"
        case .tokens: "manage tokens"
        }
        let needed = switch operation {
        case .tokens: "Administrator"
        case .operate: "Administrator, NetworkAdmin or FirewallAdmin"
        case .read: "any role but for tokens"
        case .write: isFirewall(path) ? "Administrator or FirewallAdmin" : isTopology(path) ? "Administrator or NetworkAdmin" : "Administrator"
        }
        return "role \(role) may not \(what) \(path); this needs \(needed)"
    }

    public static func isUnder(_ path: String, _ prefix: String) -> Bool {
        let trimmed = prefix.count > 1 && prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return trimmed == "/" || path == trimmed || path.hasPrefix(trimmed + "/")
    }

    /// `/nodes/…`, `/zones/…`, `/vnets/…`, `/guests/…`, but not a vnet's or guest's `/firewall`.
    static func isTopology(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard let first = parts.first, ["nodes", "zones", "vnets", "guests"].contains(first) else { return false }
        return !(parts.count >= 3 && parts[2] == "firewall")
    }

    /// `/firewall/…`, `/vnets/*/firewall/…`, `/guests/*/firewall/…`.
    static func isFirewall(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard let first = parts.first else { return false }
        if first == "firewall" { return true }
        return (first == "vnets" || first == "guests") && parts.count >= 3 && parts[2] == "firewall"
    }
}
