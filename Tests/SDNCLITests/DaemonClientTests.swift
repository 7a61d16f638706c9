import Foundation
@testable import SDNCLI
import Testing

/// The CLI's HTTP/1.1 client against a scripted server on a real Unix socket and on TCP 127.0.0.1:
/// framing of bodies, the event stream, and the errors people see when no daemon answers.
@Suite struct DaemonClientTests {
    static func client(_ server: ScriptedHTTPServer, token: String? = nil, timeout: Duration = .seconds(30)) throws -> DaemonClient {
        DaemonClient(server: try ServerAddress(parsing: server.url), token: token, timeout: timeout)
    }

    @Test(arguments: [ScriptedHTTPServer.Transport.unix, .tcp])
    func contentLengthResponseAndRequestHeaders(_ transport: ScriptedHTTPServer.Transport) throws {
        let body = #"{"revision":7,"documents":[{"path":"Topologies/a.yaml","text":"é\r\n"}]}"#
        let server = try ScriptedHTTPServer(transport) { _, connection in
            connection.send(ScriptedHTTPServer.response(200, json: body))
        }
        defer { server.stop() }
        let response = try Self.client(server, token: "s3cret").send("GET", "/v1/config?revision=7")
        #expect(response.status == 200)
        #expect(response.body == Data(body.utf8))
        #expect(response.header("content-type") == "application/json")
        let request = try #require(server.requests.first)
        #expect(request.method == "GET" && request.target == "/v1/config?revision=7")
        #expect(request.headers["authorization"] == "Bearer s3cret")
        #expect(request.headers["connection"] == "close")
        #expect(request.headers["host"] == (transport == .unix ? "localhost" : String(server.url.dropFirst("http://".count))))
    }

    @Test(arguments: [ScriptedHTTPServer.Transport.unix, .tcp])
    func chunkedResponseToARequestWithABody(_ transport: ScriptedHTTPServer.Transport) throws {
        let pieces = [#"[{"id":"r1","text":"accept in tcp/22","#, #""position":0},"#, String(repeating: " ", count: 70_000) + "]"]
        let server = try ScriptedHTTPServer(transport) { _, connection in
            connection.send(ScriptedHTTPServer.chunkedResponse(201, pieces: pieces))
        }
        defer { server.stop() }
        let sent = Data(#"{"rule":"accept in tcp/22","after":"r0"}"#.utf8)
        let response = try Self.client(server).send("POST", "/v1/policies/guest:101/rules", body: sent)
        #expect(response.status == 201)
        #expect(response.body == Data(pieces.joined().utf8))
        let request = try #require(server.requests.first)
        #expect(request.body == sent)
        #expect(request.headers["content-length"] == String(sent.count))
        #expect(request.headers["authorization"] == nil)
    }

    @Test func bodyUntilTheConnectionClosesAndNoBodyFor204() throws {
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            if request.method == "DELETE" {
                connection.send("HTTP/1.1 204 No Content\r\n\r\n")
            } else {
                connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"head\":3}")
            }
        }
        defer { server.stop() }
        let client = try Self.client(server)
        #expect(try client.send("GET", "/v1/status").body == Data(#"{"head":3}"#.utf8))
        let deleted = try client.send("DELETE", "/v1/tokens/abc")
        #expect(deleted.status == 204 && deleted.body.isEmpty)
    }

    @Test(arguments: [ScriptedHTTPServer.Transport.unix, .tcp])
    func eventStreamDeliversEventsAsTheyArrive(_ transport: ScriptedHTTPServer.Transport) throws {
        let server = try ScriptedHTTPServer(transport) { _, connection in
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            let stream = [
                ": keep-alive\n\n",
                "id: 1\nevent: revision-created\ndata: {\"sequence\":1,\"kind\":\"revision-created\"}\n\n",
                // One event split across two chunks, with two data lines.
                "id: 2\r\nevent: apply-finished\r\ndata: first", " line\r\ndata: second line\r\n\r\n",
                "id: 3\nevent: port-plugged\ndata:tap101i0\n\n",
                "id: 4\nevent: port-unplugged\ndata: never read\n\n",
            ]
            for piece in stream {
                let bytes = Array(piece.utf8)
                connection.send(String(bytes.count, radix: 16) + "\r\n" + piece + "\r\n")
            }
            connection.waitForClientToClose()
        }
        defer { server.stop() }
        var events: [ServerSentEvent] = []
        let end = try Self.client(server).streamEvents("/v1/events", until: nil) { event in
            events.append(event)
            return events.count < 3
        }
        guard case .stopped = end else { Issue.record("the stream ended by \(end), not by the handler"); return }
        #expect(events == [
            ServerSentEvent(id: "1", event: "revision-created", data: #"{"sequence":1,"kind":"revision-created"}"#),
            ServerSentEvent(id: "2", event: "apply-finished", data: "first line\nsecond line"),
            ServerSentEvent(id: "3", event: "port-plugged", data: "tap101i0"),
        ])
        #expect(server.requests.first?.headers["accept"] == "text/event-stream")
    }

    @Test func eventStreamEndsAtItsDeadlineAndWhenTheServerCloses() throws {
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: one\n\n")
            // The first stream stays open until the client leaves; the second ends after one event.
            if request.target == "/v1/events" { connection.waitForClientToClose() }
        }
        defer { server.stop() }
        let client = try Self.client(server)
        var seen = 0
        let end = try client.streamEvents("/v1/events", until: .now + .milliseconds(200)) { _ in
            seen += 1
            return true
        }
        guard case .deadlineReached = end else { Issue.record("ended by \(end)"); return }
        let closed = try client.streamEvents("/v1/events?closing", until: nil) { _ in true }
        guard case .closedByServer = closed else { Issue.record("ended by \(closed)"); return }
        #expect(seen == 1)
    }

    @Test func eventStreamRefusedIsTheResponse() throws {
        let server = try ScriptedHTTPServer(.tcp) { _, connection in
            connection.send(ScriptedHTTPServer.error(401, code: "unauthenticated", message: "a token is required on TCP"))
        }
        defer { server.stop() }
        let end = try Self.client(server).streamEvents("/v1/events", until: nil) { _ in true }
        guard case .refused(let response) = end else { Issue.record("ended by \(end)"); return }
        #expect(response.status == 401)
        #expect(DaemonSession.explain(response, server: server.url).0.contains("a token is required on TCP"))
    }

    @Test func parserGivesTheSameEventsFedByteByByte() {
        let text = "retry: 10\nid: 9\nevent: drift-found\ndata: {\"a\":1}\n\n:comment\ndata\ndata: x\n\nevent: ignored-without-data\n\n"
        var whole = ServerSentEventParser()
        let all = whole.feed(Array(text.utf8))
        var bytewise = ServerSentEventParser()
        let pieces = Array(text.utf8).flatMap { bytewise.feed([$0]) }
        #expect(all == pieces)
        #expect(all == [ServerSentEvent(id: "9", event: "drift-found", data: #"{"a":1}"#), ServerSentEvent(id: "9", event: "message", data: "\nx")])
    }

    @Test func aMissingSocketSaysHowToStartTheDaemon() throws {
        let client = DaemonClient(server: try ServerAddress(parsing: "unix:///nonexistent/sdn/sdnd.sock"))
        #expect(throws: DaemonClientError.unreachable(server: "unix:///nonexistent/sdn/sdnd.sock", reason: "no such file", daemonMayBeDown: true)) {
            try client.send("GET", "/v1/status")
        }
        let error = DaemonClientError.unreachable(server: "unix:///run/sdn/sdnd.sock", reason: "no such file", daemonMayBeDown: true)
        #expect(error.description == "cannot reach sdnd at unix:///run/sdn/sdnd.sock: no such file (is sdnd running? start it with `sdnd --state-dir …` or `systemctl start sdnd`)")
    }

    @Test func aClosedPortIsRefused() throws {
        // A port that was just free: bound by the server, then the server stops.
        let server = try ScriptedHTTPServer(.tcp) { _, _ in }
        server.stop()
        let client = DaemonClient(server: try ServerAddress(parsing: server.url))
        do {
            _ = try client.send("GET", "/v1/status")
            Issue.record("a request to a closed port succeeded")
        } catch {
            #expect(error == .unreachable(server: server.url, reason: "connection refused", daemonMayBeDown: true))
        }
    }

    @Test func aSilentServerTimesOut() throws {
        let server = try ScriptedHTTPServer(.unix) { _, connection in connection.waitForClientToClose() }
        defer { server.stop() }
        let client = try Self.client(server, timeout: .milliseconds(300))
        #expect(throws: DaemonClientError.timedOut(server: server.url, waitingFor: "the response")) {
            try client.send("GET", "/v1/status")
        }
    }

    @Test func garbageIsABrokenResponse() throws {
        let server = try ScriptedHTTPServer(.unix) { _, connection in connection.send("SSH-2.0-OpenSSH_9.2\r\n\r\n") }
        defer { server.stop() }
        let client = try Self.client(server)
        do {
            _ = try client.send("GET", "/v1/status")
            Issue.record("garbage was accepted as a response")
        } catch {
            #expect(error.description.contains("not an HTTP/1.1 status line: SSH-2.0"), "\(error)")
        }
    }

    @Test func serverAddresses() throws {
        #expect(try ServerAddress(parsing: "unix:///run/sdn/sdnd.sock").endpoint == .unix(path: "/run/sdn/sdnd.sock"))
        #expect(try ServerAddress(parsing: "/tmp/x.sock").endpoint == .unix(path: "/tmp/x.sock"))
        #expect(try ServerAddress(parsing: "http://10.0.0.5:8080").endpoint == .tcp(host: "10.0.0.5", port: 8080))
        #expect(try ServerAddress(parsing: "http://node1/").endpoint == .tcp(host: "node1", port: 80))
        #expect(try ServerAddress(parsing: "http://[::1]:8443").endpoint == .tcp(host: "::1", port: 8443))
        #expect(try ServerAddress(parsing: "http://[::1]:8443").description == "http://[::1]:8443")
        #expect(try ServerAddress(parsing: "https://node1:9443").endpoint == .https(host: "node1", port: 9443))
        #expect(try ServerAddress(parsing: "https://node1").endpoint == .https(host: "node1", port: 8443))
        #expect(try ServerAddress(parsing: "https://[fd00::1]:8443").description == "https://[fd00::1]:8443")
        #expect(try ServerAddress(parsing: "https://[fd00::1]:8443").hostHeader == "[fd00::1]:8443")
        for bad in ["node1:8080", "ftp://x", "unix://relative.sock", "http://host:99999", "http://host:8080/api", "http://:80", "https://host/api", "https://u@host"] {
            #expect(throws: DaemonClientError.self, "\(bad)") { try ServerAddress(parsing: bad) }
        }
    }

    @Test func fingerprintsParseInTheFormsPeopleCopy() throws {
        let hex = "d6dab31287af0d885e2e9a53d69d684585b7a8c75dedf296e4bbfa8ad862391c"
        let colons = "D6:DA:B3:12:87:AF:0D:88:5E:2E:9A:53:D6:9D:68:45:85:B7:A8:C7:5D:ED:F2:96:E4:BB:FA:8A:D8:62:39:1C"
        for form in [hex, hex.uppercased(), colons, "sha256 Fingerprint=" + colons, "SHA256:" + hex, " \(hex) "] {
            #expect(try CertificateFingerprint(parsing: form).description == hex, "\(form)")
        }
        #expect(throws: DaemonClientError.invalidFingerprint("abc", "a SHA-256 fingerprint is 64 hex digits (colons allowed), as sdnd prints it at start; this has 3")) {
            try CertificateFingerprint(parsing: "abc")
        }
        #expect(throws: DaemonClientError.self) { try CertificateFingerprint(parsing: String(repeating: "zz", count: 32)) }
        #expect(throws: DaemonClientError.self) { try CertificateFingerprint(parsing: hex + "00") }
    }

    @Test func serverTrustAcceptsThePinOrAVerifiedChainOnly() throws {
        let presented = CertificateFingerprint(bytes: Array(repeating: 0xab, count: 32))
        let other = CertificateFingerprint(bytes: Array(repeating: 0x01, count: 32))
        let server = "https://node1:8443"
        // Pinned: the fingerprint decides, whatever the CAs say.
        #expect(ServerTrust(pinned: presented).refusal(presented: presented, chainProblem: "self-signed certificate", server: server) == nil)
        let mismatch = try #require(ServerTrust(pinned: other).refusal(presented: presented, chainProblem: nil, server: server))
        #expect(mismatch.description.hasPrefix("refused to talk to https://node1:8443, nothing was sent: its certificate's SHA-256 fingerprint is \(presented), not the pinned \(other)"))
        // Not pinned: the system's CAs decide; a refusal shows the fingerprint to pin.
        #expect(ServerTrust().refusal(presented: presented, chainProblem: nil, server: server) == nil)
        let unverified = try #require(ServerTrust().refusal(presented: presented, chainProblem: "self-signed certificate", server: server))
        #expect(unverified.description.contains("not trusted by this system (self-signed certificate) and no fingerprint is pinned"))
        #expect(unverified.description.contains("pass --fingerprint \(presented) or set SDN_SERVER_FINGERPRINT=\(presented)"))
    }

    @Test func pullRefusesPathsThatLeaveTheDirectory() {
        for path in ["../x", "Topologies/../../x", "/etc/passwd", "", "./."] {
            #expect(PullCommand.escapeProblem(path, directory: "out") != nil, "\(path)")
        }
        for path in ["Topologies/demo.yaml", "./Policies/a.yml", "a/..b/c.yaml"] {
            #expect(PullCommand.escapeProblem(path, directory: "out") == nil, "\(path)")
        }
    }

    @Test func pushPathsAreRelativeToTheCurrentDirectory() {
        #expect(PushCommand.relativePath("Topologies/demo.yaml", from: "/work") == "Topologies/demo.yaml")
        #expect(PushCommand.relativePath("./Topologies/../Policies/a.yaml", from: "/work") == "Policies/a.yaml")
        #expect(PushCommand.relativePath("/work/site/Topologies/x.yaml", from: "/work/site") == "Topologies/x.yaml")
        #expect(PushCommand.relativePath("../elsewhere/x.yaml", from: "/nonexistent/work") == nil)
        #expect(PushCommand.relativePath("/work/sitex/a.yaml", from: "/work/site") == nil)
    }

    @Test func tokenDurations() {
        #expect(TokenCreateCommand.seconds("30d") == Int64(30 * 86400))
        #expect(TokenCreateCommand.seconds("90s") == 90)
        #expect(TokenCreateCommand.seconds("2w") == Int64(2 * 604_800))
        for bad in ["30", "d", "-1d", "0h", "1y", "99999999999999999w"] { #expect(TokenCreateCommand.seconds(bad) == nil, "\(bad)") }
    }
}
