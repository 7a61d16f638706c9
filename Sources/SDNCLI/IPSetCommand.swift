import ArgumentParser
import Foundation

/// `sdn ipset`: add or remove IP-set entries on sdnd, many in one request.
struct IPSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipset",
        abstract: "Add or remove entries of an IP set on sdnd, all in one request (one pending revision).",
        subcommands: [IPSetAddCommand.self, IPSetRemoveCommand.self]
    )

    static func change(_ name: String, add: [String], remove: [String], client: ClientOptions) throws {
        let session = try client.session()
        let response = try session.call("POST", "/v1/ipsets/\(APIPath.component(name))/entries", json: IPSetEntryChange(add: add, remove: remove))
        if session.output == .json { return session.printJSON(response) }
        let entries = add.isEmpty ? remove : add
        let verb = add.isEmpty ? "removed" : "added"
        struct Revised: Decodable { var revision: Int64? }
        let revision = (try? ClientJSON.decoder.decode(Revised.self, from: response.body))?.revision
        print("ipset \(name): \(verb) \(entries.count) entr\(entries.count == 1 ? "y" : "ies")" + (revision.map { " (revision \($0))" } ?? ""))
    }
}

struct IPSetAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add addresses or prefixes to an IP set.")

    @Argument(help: "The IP set's name.")
    var name: String

    @Argument(help: "Addresses or prefixes (10.0.0.1, 192.0.2.0/24, 2001:db8::/32).")
    var entries: [String]

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if entries.isEmpty { throw argumentError("name at least one entry to add") }
    }

    func run() throws {
        try IPSetCommand.change(name, add: entries, remove: [], client: client)
    }
}

struct IPSetRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove addresses or prefixes from an IP set.")

    @Argument(help: "The IP set's name.")
    var name: String

    @Argument(help: "The entries to remove, as they were added.")
    var entries: [String]

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if entries.isEmpty { throw argumentError("name at least one entry to remove") }
    }

    func run() throws {
        try IPSetCommand.change(name, add: [], remove: entries, client: client)
    }
}
