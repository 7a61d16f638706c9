import Foundation
import SDNModel
import SDNConfig
import SDNServer
import SDNStore
import Testing

@Suite(.serialized) struct APIServerTests {
    static func demoDocuments() throws -> [[String: String]] {
        [["path": "Topologies/demo.yaml", "text": try repositoryFile("Topologies/demo.yaml")],
         ["path": "Policies/demo.yaml", "text": try repositoryFile("Policies/demo.yaml")]]
    }

    /// Every route the server registers is in openapi.yaml, and every operation the spec lists is served.
    @Test func specAndRoutesAgree() throws {
        let spec = try APIServer.openAPIDocument()
        var operations: Set<String> = []
        var currentPath: String?
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") { currentPath = String(line.dropFirst(2).dropLast()) }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let currentPath, line.hasPrefix("    "), !line.hasPrefix("     "), ["get:", "put:", "post:", "delete:", "patch:"].contains(trimmed) {
                operations.insert("\(trimmed.dropLast().uppercased()) \(currentPath)")
            }
        }
        #expect(operations == Set(APIServer.routeList))
        #expect(operations.count == APIServer.routeList.count)
        // The line scan above reads an unparsable document too; schemathesis (and every client) would not.
        #expect(throws: Never.self) { try RenderedTree.read(spec) }
    }

    @Test func everyRouteOverTheTrustedSocket() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        let unix = server.unix
        #expect(try await TestHTTP.send(unix, "GET", "/openapi.yaml").text.contains("openapi: 3.1.0"))
        #expect(try await TestHTTP.send(unix, "GET", "/v1/config").status == 404)
        let put = try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments(), "message": "demo"])
        #expect(put.status == 201, "\(put.text)")
        #expect(put.object["revision"] as? Int == 1)
        let config = try await TestHTTP.send(unix, "GET", "/v1/config")
        #expect(config.headers["etag"] == "\"rev-1\"")
        #expect((config.object["documents"] as? [Any])?.count == 2)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/revisions?limit=5").list.first?["message"] as? String == "demo")
        #expect(try await TestHTTP.send(unix, "GET", "/v1/revisions/1").object["author"] as? String != nil)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/revisions/9").status == 404)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/plan").list.first?["text"] as? String == "scripted plan")
        #expect(try await TestHTTP.send(unix, "GET", "/v1/plan?revision=abc").status == 400)
        #expect(try await TestHTTP.send(unix, "POST", "/v1/apply", json: ["revision": 1]).object["outcome"] as? String == "converged")
        let status = try await TestHTTP.send(unix, "GET", "/v1/status").object
        #expect(status["head"] as? Int == 1 && status["target"] as? Int == 1 && status["pending"] as? Bool == false)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/objects/vnets").list.map { $0["id"] as? String } == ["web", "db"])
        let guest = try await TestHTTP.send(unix, "GET", "/v1/objects/guests/101")
        #expect(guest.status == 200 && guest.headers["etag"] != nil)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/objects/policies").list.contains { $0["id"] as? String == "guest:102" })
        #expect(try await TestHTTP.send(unix, "GET", "/v1/objects/widgets").status == 400)

        let rules = try await TestHTTP.send(unix, "GET", "/v1/policies/guest:102/rules").list
        #expect(rules.map { $0["id"] as? String }.contains("metrics"))
        let added = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:102/rules", json: ["rule": "in accept tcp dport 22", "id": "ssh", "before": "metrics"])
        #expect(added.status == 201, "\(added.text)")
        #expect(added.object["position"] as? Int == 1 && added.object["text"] as? String == "id ssh in accept tcp dport 22")
        let replaced = try await TestHTTP.send(unix, "PUT", "/v1/policies/guest:102/rules/ssh", json: ["rule": "in accept tcp dport 2222"],
                                               headers: ["If-Match": added.headers["etag"] ?? ""])
        #expect(replaced.status == 200, "\(replaced.text)")
        let moved = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:102/rules/ssh/move", json: ["after": "metrics"])
        #expect(moved.object["position"] as? Int == 2, "\(moved.text)")
        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/policies/guest:102/rules/ssh").status == 200)
        #expect(try await TestHTTP.send(unix, "POST", "/v1/policies/guest:102/rules", json: ["rule": "in accept tcp dport 99999"]).status == 422)
        let ipset = try await TestHTTP.send(unix, "POST", "/v1/ipsets/admins/entries", json: ["add": ["198.51.100.0/24", "198.51.100.7"], "remove": ["!192.0.2.13"]])
        #expect(ipset.status == 200, "\(ipset.text)")
        #expect(ipset.object["entries"] as? [String] == ["192.0.2.0/28", "198.51.100.0/24", "198.51.100.7"])
        let head = try await TestHTTP.send(unix, "GET", "/v1/config").object
        #expect(head["revision"] as? Int == 6)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/revisions/6").object["message"] as? String == "edit /firewall/ipsets/admins")

        let trace = try await TestHTTP.send(unix, "POST", "/v1/trace", json: ["from": "203.0.113.7", "to": "101", "service": "tcp/443"])
        #expect(trace.status == 200, "\(trace.text)")
        #expect(trace.object["verdict"] as? String == "accept")

        let token = try await TestHTTP.send(unix, "POST", "/v1/tokens", json: ["role": "Auditor", "comment": "ci"])
        #expect(token.status == 201 && (token.object["secret"] as? String)?.hasPrefix("sdn_") == true)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/tokens").list.count == 1)
        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/tokens/\(token.object["id"] as? String ?? "")").object["revokedAt"] != nil)
        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/tokens/nope").status == 404)

        let events = try await TestHTTP.readStream(unix, "/v1/events", until: "port-plugged")
        #expect(events.contains("text/event-stream") && events.contains("id: 7") && events.contains("event: port-plugged"))
        let metrics = try await TestHTTP.send(unix, "GET", "/metrics").text
        #expect(metrics.contains("sdnd_http_requests_total") && metrics.contains("route=\"/v1/policies/{policy}/rules\""))
        let audit = try await TestHTTP.send(unix, "GET", "/v1/audit?limit=1000").list
        #expect(audit.contains { $0["action"] as? String == "PUT /v1/config" && $0["outcome"] as? String == "ok" && $0["revision"] as? Int == 1 })
        #expect(audit.allSatisfy { ($0["actor"] as? String)?.hasPrefix("unix") == true })
    }

    @Test func theGuestHooksRoutesAnswerWithThePortsOrSayWhyNot() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        let unix = server.unix
        let prepared = try await TestHTTP.send(unix, "POST", "/v1/guests/101/ports/prepare", json: [String: String]())
        #expect(prepared.status == 200, "\(prepared.text)")
        #expect((prepared.object["ports"] as? [[String: Any]])?.first?["firewall"] as? String == "loaded")
        let unknown = try await TestHTTP.send(unix, "POST", "/v1/guests/999/ports/prepare", json: [String: String]())
        #expect(unknown.status == 404 && unknown.text.contains("guest 999 is not declared"), "\(unknown.text)")
        let notAnID = try await TestHTTP.send(unix, "POST", "/v1/guests/abc/ports/prepare", json: [String: String]())
        #expect(notAnID.status == 400 && notAnID.text.contains("\"field\":\"id\""), "\(notAnID.text)")
        #expect(try await TestHTTP.send(unix, "POST", "/v1/guests/42/ports/release", json: [String: String]()).status == 400)
        #expect(try await TestHTTP.send(unix, "POST", "/v1/ports/veth102i0/plug", json: [String: String]()).object["guest"] as? Int == 102)
        #expect(try await TestHTTP.send(unix, "POST", "/v1/ports/veth999i0/plug", json: [String: String]()).status == 404)
        #expect(try await TestHTTP.send(unix, "POST", "/v1/ports/averyveryverylongname/plug", json: [String: String]()).status == 400)
        #expect(try await TestHTTP.send(unix, "GET", "/v1/guests").status == 200)
        let audit = try await TestHTTP.send(unix, "GET", "/v1/audit").list
        #expect(audit.contains { ($0["action"] as? String) == "POST /v1/guests/101/ports/prepare" && ($0["outcome"] as? String) == "ok" }, "\(audit)")
    }

    @Test func tokensAreCheckedOnTCP() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        _ = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()])
        let tcp = server.tcp
        let missing = try await TestHTTP.send(tcp, "GET", "/v1/status")
        #expect(missing.status == 401 && missing.errorCode == "unauthenticated")
        let wrong = try await TestHTTP.send(tcp, "GET", "/v1/status", headers: ["Authorization": "Bearer sdn_wrong"])
        #expect(wrong.status == 401 && wrong.errorCode == "unauthenticated" && wrong.text.contains("not known"))
        let expired = try await server.token("Auditor", expiresIn: 1)
        try await Task.sleep(for: .milliseconds(1100))
        let expiredReply = try await TestHTTP.send(tcp, "GET", "/v1/status", headers: ["Authorization": "Bearer \(expired.secret)"])
        #expect(expiredReply.status == 401 && expiredReply.errorCode == "token-expired")
        let revoked = try await server.token("Administrator")
        #expect(try await TestHTTP.send(tcp, "GET", "/v1/status", headers: ["Authorization": "Bearer \(revoked.secret)"]).status == 200)
        _ = try await TestHTTP.send(server.unix, "DELETE", "/v1/tokens/\(revoked.id)")
        let revokedReply = try await TestHTTP.send(tcp, "GET", "/v1/status", headers: ["Authorization": "Bearer \(revoked.secret)"])
        #expect(revokedReply.status == 401 && revokedReply.errorCode == "token-revoked")
        #expect(try await TestHTTP.send(tcp, "GET", "/openapi.yaml").status == 200)

        // 403 per role on paths.
        let auditor = try await server.token("Auditor"), network = try await server.token("NetworkAdmin")
        let firewall = try await server.token("FirewallAdmin"), limited = try await server.token("FirewallAdmin", prefix: "/guests/101")
        func addRule(_ secret: String, _ policy: String) async throws -> Int {
            try await TestHTTP.send(tcp, "POST", "/v1/policies/\(policy)/rules", json: ["rule": "in accept tcp dport 22"],
                                    headers: ["Authorization": "Bearer \(secret)"]).status
        }
        #expect(try await addRule(auditor.secret, "guest:101") == 403)
        #expect(try await addRule(network.secret, "guest:101") == 403)
        #expect(try await addRule(firewall.secret, "guest:101") == 201)
        #expect(try await addRule(limited.secret, "guest:101") == 201)
        #expect(try await addRule(limited.secret, "guest:102") == 403)
        #expect(try await addRule(limited.secret, "cluster") == 403)
        #expect(try await TestHTTP.send(tcp, "GET", "/v1/tokens", headers: ["Authorization": "Bearer \(firewall.secret)"]).status == 403)
        #expect(try await TestHTTP.send(tcp, "GET", "/v1/config", headers: ["Authorization": "Bearer \(auditor.secret)"]).status == 200)
        #expect(try await TestHTTP.send(tcp, "POST", "/v1/apply", json: [:], headers: ["Authorization": "Bearer \(auditor.secret)"]).status == 403)
        #expect(try await TestHTTP.send(tcp, "POST", "/v1/apply", json: [:], headers: ["Authorization": "Bearer \(network.secret)"]).status == 200)
        // A whole-configuration PUT needs the privilege on each object it changes: NetworkAdmin may not change a firewall policy.
        // The head's documents (the rules added above are in them), with one rule of guest 102 changed.
        let head = try await TestHTTP.send(server.unix, "GET", "/v1/config").object["documents"] as? [[String: String]] ?? []
        let documents = head.map { document in
            document.merging(["text": document["text"]?.replacingOccurrences(of: "tcp dport 9100", with: "tcp dport 9101") ?? ""]) { $1 }
        }
        #expect(documents.contains { $0["text"]?.contains("tcp dport 9101") == true })
        let denied = try await TestHTTP.send(tcp, "PUT", "/v1/config", json: ["documents": documents], headers: ["Authorization": "Bearer \(network.secret)"])
        #expect(denied.status == 403 && denied.text.contains("/guests/102/firewall"), "\(denied.text)")
        #expect(try await TestHTTP.send(tcp, "PUT", "/v1/config", json: ["documents": documents], headers: ["Authorization": "Bearer \(firewall.secret)"]).status == 201)

        let audit = try await server.store.audit(after: 0, limit: 1000)
        #expect(audit.contains { $0.outcome == "unauthenticated" && $0.actor == "anonymous" })
        #expect(audit.contains { $0.outcome == "unauthenticated" && $0.actor == "token:\(expired.id)" })
        #expect(audit.contains { $0.outcome == "unauthenticated" && $0.actor == "token:\(revoked.id)" })
        #expect(audit.contains { $0.outcome == "denied" && $0.actor == "token:\(network.id)" && $0.object == "/guests/101/firewall/rules" })
        #expect(audit.contains { $0.outcome == "denied" && $0.object == "/guests/102/firewall" && $0.action == "PUT /v1/config" })
    }

    @Test func staleETagAndOversizedBodiesAreRefusedAndAudited() async throws {
        let server = try await RunningServer.start(options: APIServerOptions(maximumBodySize: 64 << 10))
        defer { Task { await server.stop() } }
        let unix = server.unix
        _ = try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()])
        _ = try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments(), "message": "again"])
        let stale = try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()], headers: ["If-Match": "\"rev-1\""])
        #expect(stale.status == 412 && stale.errorCode == "precondition-failed")
        let rule = try await TestHTTP.send(unix, "PUT", "/v1/policies/guest:102/rules/metrics", json: ["rule": "in accept tcp dport 9200"],
                                           headers: ["If-Match": "\"0000\""])
        #expect(rule.status == 412)
        let big = Data(("{\"documents\": [], \"message\": \"" + String(repeating: "x", count: 100_000) + "\"}").utf8)
        let tooLarge = try await TestHTTP.send(unix, "PUT", "/v1/config", body: big)
        #expect(tooLarge.status == 413 && tooLarge.errorCode == "too-large")
        let audit = try await server.store.audit(after: 0, limit: 1000)
        #expect(audit.filter { $0.outcome == "conflict" }.count == 2)
        #expect(audit.contains { $0.outcome == "too-large" })
        #expect(try await server.store.head()?.number == 2)
    }

    @Test func concurrentEditsOfDifferentRulesBothSucceedAndOfOneRuleOneFails() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        let unix = server.unix
        _ = try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()])
        _ = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:201/rules", json: ["rule": "in accept tcp dport 1000", "id": "a"])
        _ = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:201/rules", json: ["rule": "in accept tcp dport 2000", "id": "b"])
        let rules = try await TestHTTP.send(unix, "GET", "/v1/policies/guest:201/rules").list
        let etags = Dictionary(uniqueKeysWithValues: rules.map { ($0["id"] as! String, $0["etag"] as! String) })
        async let first = TestHTTP.send(unix, "PUT", "/v1/policies/guest:201/rules/a", json: ["rule": "in accept tcp dport 1001"], headers: ["If-Match": etags["a"]!])
        async let second = TestHTTP.send(unix, "PUT", "/v1/policies/guest:201/rules/b", json: ["rule": "in accept tcp dport 2001"], headers: ["If-Match": etags["b"]!])
        let (one, two) = try await (first, second)
        #expect(one.status == 200 && two.status == 200, "\(one.text) \(two.text)")
        let after = try await TestHTTP.send(unix, "GET", "/v1/policies/guest:201/rules").list.map { $0["text"] as? String }
        #expect(after.contains("id a in accept tcp dport 1001") && after.contains("id b in accept tcp dport 2001"))

        let current = try await TestHTTP.send(unix, "GET", "/v1/policies/guest:201/rules").list.first { $0["id"] as? String == "a" }!["etag"] as! String
        async let third = TestHTTP.send(unix, "PUT", "/v1/policies/guest:201/rules/a", json: ["rule": "in accept tcp dport 1002"], headers: ["If-Match": current])
        async let fourth = TestHTTP.send(unix, "PUT", "/v1/policies/guest:201/rules/a", json: ["rule": "in accept tcp dport 1003"], headers: ["If-Match": current])
        let (three, four) = try await (third, fourth)
        #expect([three.status, four.status].sorted() == [200, 412])
        let winner = three.status == 200 ? "1002" : "1003"
        let final = try await TestHTTP.send(unix, "GET", "/v1/policies/guest:201/rules").list.compactMap { $0["text"] as? String }
        #expect(final.contains("id a in accept tcp dport \(winner)") && final.contains("id b in accept tcp dport 2001"))
    }

    /// What schemathesis found (scripts/api-conformance.sh): bad input is a 400 naming the field, never a crash or a 500.
    @Test func inputsTheFuzzerFoundAreRefusedWithFourHundreds() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        _ = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()])
        let trace = try await TestHTTP.send(server.unix, "POST", "/v1/trace", json: ["from": "", "to": "", "service": ""])
        #expect(trace.status == 400 && (trace.object["error"] as? [String: Any])?["field"] as? String == "from", "\(trace.text)")
        let token = try await TestHTTP.send(server.unix, "POST", "/v1/tokens", json: ["role": "Auditor", "expiresInSeconds": 1_307_674_368_001])
        #expect(token.status == 400 && token.text.contains("expiresInSeconds"), "\(token.text)")
        // Paths `sdn pull` could not write back under its directory are refused, and nothing is stored.
        let head = try await TestHTTP.send(server.unix, "GET", "/v1/config")
        for path in ["../outside.yaml", "/etc/sdn.yaml", "Policies//x.yaml", "Policies/\u{7}.yaml"] {
            var documents = try Self.demoDocuments()
            documents[0]["path"] = path
            let refused = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": documents])
            #expect(refused.status == 400 && (refused.object["error"] as? [String: Any])?["field"] as? String == "documents.0.path", "\(path): \(refused.text)")
        }
        #expect(try await TestHTTP.send(server.unix, "GET", "/v1/config").object["revision"] as? Int == head.object["revision"] as? Int)
    }

    @Test func brokenConfigurationReturnsDiagnosticsAndStoresNothing() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        let broken = [["path": "Topologies/bad.yaml", "text": "nodes:\n  demo1:\n    address: [unclosed\n"]]
        let reply = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": broken])
        #expect(reply.status == 422 && reply.errorCode == "invalid-config")
        let diagnostics = reply.object["diagnostics"] as? [[String: Any]] ?? []
        #expect(diagnostics.contains { $0["file"] as? String == "Topologies/bad.yaml" && $0["line"] is Int && $0["column"] is Int && $0["severity"] as? String == "error" })
        let json = [["path": "Topologies/bad.json", "text": "{\"vnets\": {\"web\": {\"zone\": \"nowhere\"}}}"]]
        let jsonReply = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": json])
        #expect(jsonReply.status == 422)
        let pointers = (jsonReply.object["diagnostics"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
        #expect(pointers.contains { $0.hasPrefix("/documents/0/text/vnets/web") }, "\(jsonReply.text)")
        #expect(try await server.store.head() == nil)
        #expect(try await server.store.audit(after: 0, limit: 100).contains { $0.outcome == "invalid" })
    }

    @Test func guestPolicyEditsAreCheckedIncrementallyAndStillRefuseErrors() async throws {
        let server = try await RunningServer.start()
        defer { Task { await server.stop() } }
        let unix = server.unix
        #expect(try await TestHTTP.send(unix, "PUT", "/v1/config", json: ["documents": try Self.demoDocuments()]).status == 201)
        let added = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:102/rules", json: ["rule": "in accept tcp dport 22 from @admins", "id": "ssh"])
        #expect(added.status == 201, "\(added.text)")
        // Only guest 102's policy changed: checked on its own, not by parsing the whole state again.
        let timing = added.headers["server-timing"] ?? ""
        #expect(timing.contains("check-incremental;dur=") && !timing.contains("check;dur="), "\(timing)")
        // What was stored loads back to the model the edit checked.
        let head = try #require(try await server.store.head())
        let reloaded = ConfigLoader.loadAndValidate(head.documents.map { ConfigDocument(path: $0.path, text: $0.text, kind: ConfigDocument.kind(impliedBy: $0.path)) })
        #expect(reloaded.validated?.value == server.api.stateCache.state(of: head.number)?.value)
        #expect(reloaded.validated?.value.firewall.guests.first { $0.scope == .guest(102) }?.rules.contains { $0.id == "ssh" } == true)

        // An error in a guest's policy is found by the whole check, with its place in the documents.
        let refused = try await TestHTTP.send(unix, "POST", "/v1/policies/guest:102/rules", json: ["rule": "in accept tcp dport 22 from @nosuchset"])
        #expect(refused.status == 422 && refused.errorCode == "invalid-config", "\(refused.text)")
        let diagnostics = refused.object["diagnostics"] as? [[String: Any]] ?? []
        #expect(diagnostics.contains { ($0["message"] as? String ?? "").contains("nosuchset") && $0["line"] is Int }, "\(refused.text)")
        #expect((refused.headers["server-timing"] ?? "").contains("check;dur="))
        #expect(try await server.store.headNumber() == head.number)
    }
}
