import ArgumentParser
import Foundation

/// `sdn events`: follow sdnd's event stream, one line per event.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print sdnd's events as they happen: revisions, applies, drift, guest ports plugged and unplugged.",
        discussion: """
            One line per event (with --output json, the event's JSON on one line). Ends after --count events, after \
            --timeout seconds, when sdnd stops, or on Ctrl-C.
            Exit status: 0 ended as asked, 1 sdnd cannot be reached or closed the stream before --count events.
            """
    )

    @Option(help: "Stop after this many events.")
    var count: Int?

    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let count, count < 1 { throw argumentError("--count must be at least 1 (got \(count))") }
        if let timeout, !(timeout > 0) { throw argumentError("--timeout must be a positive number of seconds (got \(timeout))") }
    }

    func run() throws {
        let session = try client.session()
        let deadline = timeout.map { ContinuousClock.now + .milliseconds(Int64(min($0, 1e9) * 1000)) }
        var seen = 0
        let count = self.count
        let end: DaemonClient.StreamEnd
        do {
            end = try session.client.streamEvents("/v1/events", until: deadline) { event in
                print(Self.line(for: event, output: session.output))
                fflush(nil)
                seen += 1
                return count.map { seen < $0 } ?? true
            }
        } catch {
            printError("sdn: \(error)")
            throw ExitCode.failed
        }
        switch end {
        case .stopped, .deadlineReached:
            return
        case .closedByServer:
            printError("sdn: sdnd closed the event stream (it is stopping?) after \(seen) event\(seen == 1 ? "" : "s")")
            if count != nil { throw ExitCode.failed }
        case .refused(let response):
            throw session.refusal(response)
        }
    }

    /// `TIME  KIND  NODE  rREV  MESSAGE`, or the event's JSON on one line; data this sdn cannot read is printed as it came.
    static func line(for event: ServerSentEvent, output: OutputFormat) -> String {
        if output == .json {
            guard let object = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)),
                  let compact = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            else { return event.data }
            return String(decoding: compact, as: UTF8.self)
        }
        guard let decoded = try? ClientJSON.decoder.decode(RemoteEvent.self, from: Data(event.data.utf8)) else {
            return "\(event.event)  \(event.data)"
        }
        let revision = decoded.revision.map { "r\($0)" } ?? "-"
        return [ClientFormat.date(decoded.time), decoded.kind, decoded.node, revision, decoded.message].joined(separator: "  ")
    }
}
