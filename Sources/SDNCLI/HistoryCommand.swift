import ArgumentParser
import Foundation

/// `sdn history`: the revisions sdnd holds, newest first.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List sdnd's revisions of the configuration, newest first: number, parent, author, time, message."
    )

    @Option(help: "How many revisions to list.")
    var limit: Int = 20

    @Option(help: ArgumentHelp("List revisions older than this one (paging).", valueName: "n"))
    var before: Int64?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard limit > 0 else { throw argumentError("--limit must be at least 1 (got \(limit))") }
    }

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", APIPath.query("/v1/revisions", [("limit", String(limit)), ("before", before.map(String.init))]))
        if session.output == .json { return session.printJSON(response) }
        let revisions = try session.decode([RemoteRevisionSummary].self, from: response)
        if revisions.isEmpty {
            print("no revisions yet (`sdn push` makes the first)")
            return
        }
        var table = TextTable(headers: ["REV", "PARENT", "AUTHOR", "CREATED", "MESSAGE"])
        for revision in revisions {
            table.rows.append([String(revision.number), ClientFormat.revision(revision.parent), revision.author,
                               ClientFormat.date(revision.createdAt), revision.message.split(separator: "\n").first.map(String.init) ?? ""])
        }
        print(table.render())
    }
}
