import ArgumentParser
import Foundation

/// `sdn token`: API tokens for sdnd's TCP listener.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke sdnd's API tokens (for --server http://…; the Unix socket needs none).",
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self]
    )
}

struct TokenCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a token; its secret is printed once and stored only hashed.",
        discussion: "Roles: Administrator, NetworkAdmin, FirewallAdmin, Auditor (read only)."
    )

    @Option(help: "The role it grants: Administrator, NetworkAdmin, FirewallAdmin or Auditor.")
    var role: String

    @Option(name: .customLong("path"), help: ArgumentHelp("Limit it to objects below this path (/vnets/web, /firewall/ipsets/blocklist).", valueName: "path"))
    var pathPrefix: String?

    @Option(help: ArgumentHelp("How long it lasts: 90s, 30m, 12h, 30d or 2w (default: until revoked).", valueName: "duration"),
            transform: { text in
                guard let seconds = TokenCreateCommand.seconds(text) else {
                    throw ValidationError("--expires '\(text)' is not a duration: a positive number and one of s, m, h, d, w (30d)")
                }
                return seconds
            })
    var expires: Int64?

    @Option(help: "A note on what it is for (shown by `sdn token list`).")
    var comment: String?

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let request = TokenRequest(role: role, pathPrefix: pathPrefix, expiresInSeconds: expires, comment: comment)
        let response = try session.call("POST", "/v1/tokens", json: request)
        if session.output == .json { return session.printJSON(response) }
        let token = try session.decode(CreatedToken.self, from: response)
        print("token \(token.id) (\(token.role)\(pathPrefix.map { " on \($0)" } ?? ""), expires \(token.expiresAt.map { ClientFormat.date($0) } ?? "never"))")
        print("secret: \(token.secret)")
        print("this is the only time the secret is shown; use it as --token or SDN_TOKEN")
    }

    /// `30d` → 2592000; nil if it is not a positive count with a unit.
    static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let unit = text.last, let multiplier = units[unit], let count = Int64(text.dropLast()), count > 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}

struct TokenListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tokens (never their secrets).")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", "/v1/tokens")
        if session.output == .json { return session.printJSON(response) }
        let tokens = try session.decode([RemoteToken].self, from: response)
        if tokens.isEmpty {
            print("no tokens (`sdn token create --role …` makes one)")
            return
        }
        var table = TextTable(headers: ["ID", "ROLE", "PATH", "CREATED", "EXPIRES", "STATE", "COMMENT"])
        let now = Date()
        for token in tokens {
            let state = token.revokedAt != nil ? "revoked" : (token.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
            table.rows.append([token.id, token.role, token.pathPrefix.flatMap { $0.isEmpty ? nil : $0 } ?? "/", ClientFormat.date(token.createdAt),
                               token.expiresAt.map { ClientFormat.date($0) } ?? "never", state, token.comment ?? ""])
        }
        print(table.render())
    }
}

struct TokenRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: requests with it are refused from now on.")

    @Argument(help: "The token's id (from `sdn token list`).")
    var id: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("DELETE", "/v1/tokens/" + APIPath.component(id))
        if session.output == .json { return session.printJSON(response) }
        print("revoked token \(id)")
    }
}
