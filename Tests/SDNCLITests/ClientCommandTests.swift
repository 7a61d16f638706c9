import Foundation
import SDNTesting
import Synchronization
import Testing

/// The `sdn` binary as sdnd's client, against scripted servers: what people see when the daemon says
/// no (401, 412, 422), pull's refusal of paths outside its directory, and push → pull giving back
/// the same bytes.
@Suite struct ClientCommandTests {
    /// Runs the `sdn` binary in `directory` with `environment` set.
    static func sdn(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(SDNExecutableTests.binary, "the sdn executable was not built next to the tests")
        var command = ["env"]
        if let directory { command += ["-C", directory] }
        // No daemon of the machine's own may leak in: only what the test says.
        command += ["-u", "SDN_SERVER", "-u", "SDN_TOKEN"]
        command += environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try Shell.run(command + [binary] + arguments)
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-client-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func unauthenticatedIsExplainedAndExitsOne() throws {
        let server = try ScriptedHTTPServer(.tcp) { _, connection in
            connection.send(ScriptedHTTPServer.error(401, code: "unauthenticated", message: "the token is unknown, expired or revoked"))
        }
        defer { server.stop() }
        let result = try Self.sdn(["status"], environment: ["SDN_SERVER": server.url, "SDN_TOKEN": "wrong"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("not authenticated: the token is unknown, expired or revoked (HTTP 401)"), "\(result.stderr)")
        #expect(result.stderr.contains("--token or SDN_TOKEN"))
        #expect(server.requests.first?.headers["authorization"] == "Bearer wrong")
        #expect(server.requests.first?.target == "/v1/status")
    }

    @Test func rejectedConfigurationPrintsDiagnosticsLikeValidateAndExitsTwo() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/Topologies", withIntermediateDirectories: true)
        try "nodes:\n  pve1:\n    bridges: [vmbr0]\nzones:\n  lan: {bridge: vmbr9}\n".write(toFile: directory + "/Topologies/net.yaml", atomically: true, encoding: .utf8)
        let diagnostics = #"{"diagnostics":[{"severity":"error","code":"unknown-bridge","message":"zone 'lan' uses bridge 'vmbr9', which node 'pve1' does not have","file":"Topologies/net.yaml","line":5,"column":17,"path":"zones.lan.bridge"}]}"#
        let server = try ScriptedHTTPServer(.unix) { _, connection in
            connection.send(ScriptedHTTPServer.response(422, json: diagnostics))
        }
        defer { server.stop() }
        let result = try Self.sdn(["push", "--server", server.url, "-m", "bad bridge"], in: directory)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.contains("Topologies/net.yaml:5:17: error: zone 'lan' uses bridge 'vmbr9', which node 'pve1' does not have [zones.lan.bridge] (unknown-bridge)"), "\(result.stdout)")
        // The source line with a caret under column 17, as `sdn validate` shows it.
        #expect(result.stdout.contains(" 5 |   lan: {bridge: vmbr9}\n   |                 ^"), "\(result.stdout)")
        #expect(result.stderr.contains("sdnd refused the configuration: 1 error (nothing was changed)"))
        let request = try #require(server.requests.first)
        #expect(request.method == "PUT" && request.target == "/v1/config")
        let sent = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect(sent["message"] as? String == "bad bridge")
        #expect((sent["documents"] as? [[String: String]])?.map { $0["path"] } == ["Topologies/net.yaml"])
    }

    @Test func staleBaseIsAConflictThatExitsOne() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "nodes: {}\n".write(toFile: directory + "/one.yaml", atomically: true, encoding: .utf8)
        let server = try ScriptedHTTPServer(.unix) { _, connection in
            connection.send(ScriptedHTTPServer.error(412, code: "stale-revision", message: "the head is revision 5, not 3"))
        }
        defer { server.stop() }
        let result = try Self.sdn(["push", "one.yaml", "--base", "3", "--server", server.url], in: directory)
        #expect(result.status == 1)
        #expect(result.stderr.contains("the head is revision 5, not 3 (HTTP 412)"), "\(result.stderr)")
        #expect(result.stderr.contains("it changed since you read it"))
        #expect(server.requests.first?.headers["if-match"] == "\"rev-3\"")

        let json = try Self.sdn(["push", "one.yaml", "--base", "3", "--server", server.url, "--output", "json"], in: directory)
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: [String: String]], "\(json.stdout)")
        #expect(object["error"]?["code"] == "stale-revision")
    }

    @Test func pullRefusesAPathOutsideItsDirectoryAndWritesNothing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let body = #"{"revision":4,"etag":"\"rev-4\"","documents":[{"path":"Topologies/ok.yaml","text":"a: 1\n"},{"path":"../x","text":"escaped\n"}]}"#
        let server = try ScriptedHTTPServer(.unix) { _, connection in connection.send(ScriptedHTTPServer.response(200, json: body)) }
        defer { server.stop() }
        let result = try Self.sdn(["pull", "--server", server.url, "--into", directory + "/out"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("refusing to pull revision 4: the document '../x' has '..' in its path: it would be written outside \(directory)/out; nothing was written"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/x"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/out"))
    }

    @Test func pushThenPullGivesBackTheSameBytes() throws {
        let source = try Self.temporaryDirectory(), target = try Self.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: source)
            try? FileManager.default.removeItem(atPath: target)
        }
        let files: [String: [UInt8]] = [
            "Topologies/net.yaml": Array("# Zürich – 東京 ✓ 🚀\r\nnodes:\r\n  pve1: {}\r\n".utf8),
            "Policies/web.yml": Array("rules:\n  - \"accept in tcp/443\"\t# tab, no final newline".utf8),
            "Policies/nested/deeper/empty.yaml": [],
        ]
        for (path, bytes) in files {
            let url = URL(fileURLWithPath: source + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let stored = Mutex<Data?>(nil)
        let server = try ScriptedHTTPServer(.tcp) { request, connection in
            switch (request.method, request.target) {
            case ("PUT", "/v1/config"):
                stored.withLock { $0 = request.body }
                connection.send(ScriptedHTTPServer.response(201, json: #"{"revision":1}"#))
            case ("GET", "/v1/config"):
                // What was pushed, served back in the snapshot's shape: the documents as they came.
                let pushed = stored.withLock { $0 } ?? Data("{}".utf8)
                let object = (try? JSONSerialization.jsonObject(with: pushed)) as? [String: Any] ?? [:]
                let snapshot = try! JSONSerialization.data(withJSONObject: ["revision": 1, "etag": "\"rev-1\"", "documents": object["documents"] ?? []])
                connection.send(ScriptedHTTPServer.chunkedResponse(200, pieces: [String(decoding: snapshot, as: UTF8.self)]))
            default:
                connection.send(ScriptedHTTPServer.error(404, code: "not-found", message: "no route"))
            }
        }
        defer { server.stop() }
        let pushed = try Self.sdn(["push", "Topologies", "Policies", "-m", "first", "--server", server.url], in: source)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(pushed.stdout.hasPrefix("pushed revision 1: 3 files"), "\(pushed.stdout)")
        let sent = try #require(try JSONSerialization.jsonObject(with: stored.withLock { $0 } ?? Data()) as? [String: Any])
        #expect(Set((sent["documents"] as? [[String: String]] ?? []).compactMap { $0["path"] }) == Set(files.keys))

        let pulled = try Self.sdn(["pull", "--server", server.url, "--into", "copy"], in: target)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        for (path, bytes) in files {
            let copy = try Data(contentsOf: URL(fileURLWithPath: target + "/copy/" + path))
            #expect(Array(copy) == bytes, "\(path)")
        }
    }

    @Test func noDaemonIsOneClearLine() throws {
        let result = try Self.sdn(["status", "--server", "unix:///nonexistent/sdnd.sock"])
        #expect(result.status == 1)
        #expect(result.stderr == "sdn: cannot reach sdnd at unix:///nonexistent/sdnd.sock: no such file (is sdnd running? start it with `sdnd --state-dir …` or `systemctl start sdnd`)\n")
        let badPin = try Self.sdn(["history", "--server", "https://node1:8443", "--fingerprint", "abc"])
        #expect(badPin.status == 2)
        #expect(badPin.stderr == "sdn: invalid fingerprint 'abc': a SHA-256 fingerprint is 64 hex digits (colons allowed), as sdnd prints it at start; this has 3\n")
        let pinOnUnix = try Self.sdn(["history", "--server", "unix:///run/sdn/sdnd.sock", "--fingerprint", String(repeating: "ab", count: 32)])
        #expect(pinOnUnix.status == 2)
        #expect(pinOnUnix.stderr.contains("--fingerprint pins the certificate of an https:// server, and unix:///run/sdn/sdnd.sock is not one"))
    }

    @Test func eventsPrintsOneLinePerEventAndStopsAtTheCount() throws {
        let server = try ScriptedHTTPServer(.unix) { _, connection in
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            for (sequence, kind) in [(1, "revision-created"), (2, "apply-started"), (3, "apply-finished"), (4, "port-plugged")] {
                connection.send("id: \(sequence)\nevent: \(kind)\ndata: {\"sequence\":\(sequence),\"time\":\"2026-12-06T05:00:0\(sequence)Z\",\"kind\":\"\(kind)\",\"node\":\"pve1\",\"revision\":2,\"message\":\"m\(sequence)\",\"figures\":{}}\n\n")
            }
            connection.waitForClientToClose()
        }
        defer { server.stop() }
        let result = try Self.sdn(["events", "--count", "3", "--server", server.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            2026-12-06T05:00:01Z  revision-created  pve1  r2  m1
            2026-12-06T05:00:02Z  apply-started  pve1  r2  m2
            2026-12-06T05:00:03Z  apply-finished  pve1  r2  m3

            """)
    }

    @Test func planAndApplyStayLocalWithoutAServer() throws {
        let result = try Self.sdn(["plan", "--revision", "3"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--revision and --output need a daemon (--server URL or SDN_SERVER)"), "\(result.stderr)")
        let mixed = try Self.sdn(["apply", "Topologies", "--server", "unix:///nonexistent/sdnd.sock"])
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("`sdn push` the files first"), "\(mixed.stderr)")
    }

    @Test func ruleAddSendsItsPlacementAndPrintsTheId() throws {
        let server = try ScriptedHTTPServer(.unix) { _, connection in
            connection.send(ScriptedHTTPServer.response(201, json: #"{"id":"ssh-admin","text":"accept in tcp/22","position":2,"etag":"\"r1\""}"#))
        }
        defer { server.stop() }
        let result = try Self.sdn(["rule", "add", "guest:101", "accept in tcp/22", "--after", "web", "--server", server.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "guest:101: added rule ssh-admin at position 2: accept in tcp/22\n")
        let request = try #require(server.requests.first)
        #expect(request.target == "/v1/policies/guest:101/rules")
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: String])
        #expect(body == ["rule": "accept in tcp/22", "after": "web"])
    }

    /// get → edit → put: the file is sent as it is (its members' order kept), its ETag becomes If-Match;
    /// an object alone is wrapped as {"object": …}; --create asks for create-only.
    @Test func objectPutSendsTheFileWithItsETag() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            let created = request.headers["if-none-match"] == "*"
            connection.send(ScriptedHTTPServer.response(created ? 201 : 200,
                                                        json: #"{"etag":"\"e2\"","id":"web","kind":"vnets","object":{},"path":"/vnets/web","revision":5,"unchanged":false}"#))
        }
        defer { server.stop() }
        let envelope = #"{"etag": "\"e1\"", "id": "web", "kind": "vnets", "object": {"zone": "local", "subnets": {"10.1.0.0/24": {}, "10.0.0.0/24": {}}}}"#
        try envelope.write(toFile: directory + "/web.json", atomically: true, encoding: .utf8)
        let put = try Self.sdn(["object", "put", "vnets", "web", "--file", directory + "/web.json", "--server", server.url])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout == "vnets web: replaced (revision 5)\n")
        let first = try #require(server.requests.first)
        #expect(first.method == "PUT" && first.target == "/v1/objects/vnets/web" && first.headers["if-match"] == "\"e1\"")
        #expect(String(decoding: first.body, as: UTF8.self) == envelope)

        try #"{"gateway": "10.0.0.1"}"#.write(toFile: directory + "/subnet.json", atomically: true, encoding: .utf8)
        let create = try Self.sdn(["object", "put", "subnets", "web:10.0.0.0/24", "--create", "-f", directory + "/subnet.json", "--server", server.url])
        #expect(create.status == 0 && create.stdout == "subnets web: created (revision 5)\n", "\(create.stderr)")
        let second = try #require(server.requests.last)
        #expect(second.target == "/v1/objects/subnets/web:10.0.0.0%2F24" && second.headers["if-match"] == nil)
        #expect(String(decoding: second.body, as: UTF8.self) == #"{"object": {"gateway": "10.0.0.1"}}"#)
    }

    @Test func planAndApplyThroughTheDaemon() throws {
        let plan = #"[{"node":"pve1","revision":2,"text":"node pve1: 1 step\n  + link web (bridge)\n","steps":1,"firewallChanges":0,"conflicts":[],"diagnostics":[]}]"#
        let applied = #"{"node":"pve1","revision":2,"converged":true,"outcome":"converged","errors":[],"stepsApplied":1,"linkWrites":2,"firewallMessages":0,"milliseconds":3.25}"#
        let server = try ScriptedHTTPServer(.unix) { request, connection in
            connection.send(ScriptedHTTPServer.response(200, json: request.method == "POST" ? applied : plan))
        }
        defer { server.stop() }
        let planned = try Self.sdn(["plan", "--revision", "2"], environment: ["SDN_SERVER": server.url])
        #expect(planned.status == 3, "\(planned.stderr)")
        #expect(planned.stdout == "node pve1: 1 step\n  + link web (bridge)\n")
        #expect(server.requests.last?.target == "/v1/plan?revision=2")

        // Asking needs a terminal; the tests' standard input is none.
        let asked = try Self.sdn(["apply", "--server", server.url])
        #expect(asked.status == 2)
        #expect(asked.stderr.contains("not a terminal; pass --yes"))
        #expect(!server.requests.contains { $0.method == "POST" })

        let done = try Self.sdn(["apply", "--revision", "2", "--yes", "--server", server.url])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stdout.hasSuffix("node pve1: revision 2 converged (1 step, 2 link writes, 0 firewall messages in 3.2 ms)\n"), "\(done.stdout)")
        let post = try #require(server.requests.last)
        #expect(post.method == "POST" && post.target == "/v1/apply")
        #expect(try JSONSerialization.jsonObject(with: post.body) as? [String: Int] == ["revision": 2])
    }

    @Test func statusTableAndItsJSON() throws {
        let status = #"{"head":3,"target":2,"pending":true,"nodes":[{"node":"pve1","targetRevision":2,"appliedRevision":2,"headRevision":3,"pendingChanges":true,"drift":false,"lastError":null,"lastReconcile":"2026-12-06T05:00:00Z","portsPlugged":["tap101i0"],"portsMissing":["veth102i0"],"driftMode":"repair"}]}"#
        let server = try ScriptedHTTPServer(.tcp) { _, connection in connection.send(ScriptedHTTPServer.response(200, json: status)) }
        defer { server.stop() }
        let text = try Self.sdn(["status", "--server", server.url])
        #expect(text.status == 3, "\(text.stderr)")
        #expect(text.stdout == """
            head 3, target 2: changes pending (`sdn plan` shows them, `sdn apply` applies them)
            NODE  APPLIED  TARGET  PENDING  DRIFT  PORTS                 LAST RECONCILE
            pve1  2        2       yes      no     1 plugged, 1 missing  2026-12-06T05:00:00Z
            pve1: ports not present yet: veth102i0

            """, "\(text.stdout)")
        let json = try Self.sdn(["status", "--server", server.url, "--output", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        #expect(object["head"] as? Int == 3)
        #expect((object["nodes"] as? [[String: Any]])?.first?["portsPlugged"] as? [String] == ["tap101i0"])
    }
}
