import ArgumentParser
import Foundation

/// `sdn object`: read, write and delete one object of the desired state on sdnd by kind and stable id.
struct ObjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "object",
        abstract: "List, get, put and delete objects on sdnd by stable id; each write makes a pending revision.",
        discussion: """
            KIND is nodes, uplinks, zones, vnets, subnets, guests, nics, policies, groups, ipsets or aliases. \
            ID is the object's name (a guest's VMID; a policy's cluster, node:NAME, vnet:NAME or guest:ID); \
            a part's PARENT:KEY (uplink demo1:eth0, subnet web:10.0.0.0-24, NIC 101:net0). \
            Edit with: sdn object get vnets web > web.json; edit web.json; sdn object put vnets web --file web.json \
            (the ETag in the file makes the write refused if someone changed the vnet in between).
            """,
        subcommands: [ObjectListCommand.self, ObjectGetCommand.self, ObjectPutCommand.self, ObjectDeleteCommand.self]
    )

    static func objectPath(_ kind: String, _ id: String) -> String {
        "/v1/objects/\(APIPath.component(kind))/\(APIPath.component(id))"
    }
}

struct ObjectListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the objects of one kind with their ids and ETags.")

    @Argument(help: "The kind of object (nodes, vnets, subnets, …).")
    var kind: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", "/v1/objects/\(APIPath.component(kind))")
        if session.output == .json { return print(String(decoding: response.body, as: UTF8.self)) }
        struct Listed: Decodable {
            var id: String
            var path: String
            var etag: String
        }
        let objects = try session.decode([Listed].self, from: response)
        if objects.isEmpty { return print("no \(kind)") }
        var table = TextTable(headers: ["ID", "PATH", "ETAG"])
        for object in objects { table.rows.append([object.id, object.path, object.etag]) }
        print(table.render())
    }
}

struct ObjectGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print one object as JSON (the body `sdn object put` takes back, with its ETag).")

    @Argument(help: "The kind of object.")
    var kind: String

    @Argument(help: "The object's id.")
    var id: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        // As the daemon sent it: its members are in document order, which a pretty-printer would sort.
        print(String(decoding: try session.call("GET", ObjectCommand.objectPath(kind, id)).body, as: UTF8.self))
    }
}

struct ObjectPutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Create or replace one object from JSON: what `sdn object get` printed, or the object alone.")

    @Argument(help: "The kind of object.")
    var kind: String

    @Argument(help: "The object's id.")
    var id: String

    @Option(name: [.short, .long], help: ArgumentHelp("The JSON to write ('-': standard input).", valueName: "file"))
    var file: String = "-"

    @Option(help: ArgumentHelp("Replace only if the object's ETag is this (default: the etag in the file, if any).", valueName: "etag"))
    var ifMatch: String?

    @Flag(help: "Create only: refuse if the object exists.")
    var create = false

    @Flag(help: "Replace whatever is there (If-Match: *), even a version you never read.")
    var force = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if [create, force, ifMatch != nil].filter({ $0 }).count > 1 { throw argumentError("give one of --create, --force and --if-match") }
    }

    func run() throws {
        let data: Data
        do {
            data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            printError("sdn: cannot read \(file): \(error.localizedDescription)")
            throw ExitCode.badInput
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            printError("sdn: \(file == "-" ? "standard input" : file) is not JSON: \(error.localizedDescription)")
            throw ExitCode.badInput
        }
        // What `get` printed is sent as it is (the daemon reads only `object`); an object alone is wrapped.
        // Text, not a re-encoding: a JSON encoder would reorder the object's members.
        let envelope = (parsed as? [String: Any])?["object"] != nil
        let body = envelope ? data : Data("{\"object\": ".utf8) + data + Data("}".utf8)
        var headers: [(String, String)] = []
        if create {
            headers.append(("If-None-Match", "*"))
        } else if force {
            headers.append(("If-Match", "*"))
        } else if let etag = ifMatch ?? (envelope ? (parsed as? [String: Any])?["etag"] as? String : nil) {
            headers.append(("If-Match", etag))
        }
        let session = try client.session()
        let response = try session.call("PUT", ObjectCommand.objectPath(kind, id), body: body, headers: headers)
        if session.output == .json { return print(String(decoding: response.body, as: UTF8.self)) }
        struct Written: Decodable {
            var id: String
            var revision: Int64?
            var unchanged: Bool
        }
        let written = try session.decode(Written.self, from: response)
        let verb = written.unchanged ? "unchanged (no new revision)" : response.status == 201 ? "created" : "replaced"
        print("\(kind) \(written.id): \(verb)" + (written.unchanged ? "" : written.revision.map { " (revision \($0))" } ?? ""))
    }
}

struct ObjectDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete one object (refused while others use it).")

    @Argument(help: "The kind of object.")
    var kind: String

    @Argument(help: "The object's id.")
    var id: String

    @Option(help: ArgumentHelp("Delete only if the object's ETag is this.", valueName: "etag"))
    var ifMatch: String?

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("DELETE", ObjectCommand.objectPath(kind, id), headers: ifMatch.map { [("If-Match", $0)] } ?? [])
        if session.output == .json { return session.printJSON(response) }
        struct Deleted: Decodable {
            var revision: Int64?
            var unchanged: Bool
        }
        let deleted = try session.decode(Deleted.self, from: response)
        print("\(kind) \(id): " + (deleted.unchanged ? "nothing to delete (no new revision)" : "deleted" + (deleted.revision.map { " (revision \($0))" } ?? "")))
    }
}
