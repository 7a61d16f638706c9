import Foundation
import SDNServer
import SDNStore
import Testing

/// PUT and DELETE of /v1/objects/{kind}/{id}: every object by stable id, with its own ETag.
@Suite(.serialized) struct ObjectAPITests {
    /// A server with the demo configuration as revision 1.
    static func demoServer() async throws -> RunningServer {
        let server = try await RunningServer.start()
        let put = try await TestHTTP.send(server.unix, "PUT", "/v1/config", json: ["documents": try APIServerTests.demoDocuments()])
        #expect(put.status == 201, "\(put.text)")
        return server
    }

    static func get(_ endpoint: Endpoint, _ kind: String, _ id: String) async throws -> HTTPReply {
        try await TestHTTP.send(endpoint, "GET", "/v1/objects/\(kind)/\(id)")
    }

    static func put(_ endpoint: Endpoint, _ kind: String, _ id: String, _ object: Any, headers: [String: String] = [:]) async throws -> HTTPReply {
        try await TestHTTP.send(endpoint, "PUT", "/v1/objects/\(kind)/\(id)", json: ["object": object], headers: headers)
    }

    static func headNumber(_ server: RunningServer) async throws -> Int64? { try await server.store.head()?.number }

    /// GET → PUT of the same body changes nothing, for every object of every kind: no revision is made.
    @Test func everyObjectRoundTripsUnchanged() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        var seen = 0
        for kind in ["nodes", "uplinks", "zones", "vnets", "subnets", "guests", "nics", "policies", "groups", "ipsets", "aliases"] {
            let list = try await TestHTTP.send(server.unix, "GET", "/v1/objects/\(kind)").list
            #expect(!list.isEmpty, "no \(kind) in the demo")
            for object in list {
                let id = object["id"] as? String ?? ""
                let encoded = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
                let read = try await Self.get(server.unix, kind, encoded)
                #expect(read.status == 200 && read.headers["etag"] == object["etag"] as? String, "\(kind)/\(id): \(read.text)")
                let written = try await TestHTTP.send(server.unix, "PUT", "/v1/objects/\(kind)/\(encoded)", body: read.body,
                                                      headers: ["If-Match": read.headers["etag"] ?? ""])
                #expect(written.status == 200 && written.object["unchanged"] as? Bool == true, "\(kind)/\(id): \(written.text)")
                #expect(written.headers["etag"] == read.headers["etag"] && written.object["revision"] as? Int == 1)
                seen += 1
            }
        }
        #expect(seen >= 20)
        #expect(try await Self.headNumber(server) == 1)
        let subnets = try await TestHTTP.send(server.unix, "GET", "/v1/objects/subnets").list.compactMap { $0["id"] as? String }
        #expect(subnets == ["web:10.10.0.0-24", "db:10.20.0.0-24"])
        let nic = try await Self.get(server.unix, "nics", "101:net0").object
        #expect(nic["path"] as? String == "/guests/101/nics/net0" && (nic["object"] as? [String: Any])?["vnet"] as? String == "web")
        // The prefix may be written with its '/' (percent-encoded): the same object, under its canonical id.
        #expect(try await Self.get(server.unix, "subnets", "web:10.10.0.0%2F24").object["id"] as? String == "web:10.10.0.0-24")
        #expect(try await Self.get(server.unix, "subnets", "web").status == 400)
    }

    /// The order a client writes parts in is the order they are stored and shown in, and GET → PUT keeps it.
    @Test func theOrderOfPartsIsKept() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let body = #"{"object": {"zone": "local", "subnets": {"10.50.1.0/24": {"gateway": "10.50.1.1"}, "10.50.0.0/24": {"gateway": "10.50.0.1"}}}}"#
        let created = try await TestHTTP.send(server.unix, "PUT", "/v1/objects/vnets/lab", body: Data(body.utf8))
        #expect(created.status == 201, "\(created.text)")
        let ids = try await TestHTTP.send(server.unix, "GET", "/v1/objects/subnets").list.compactMap { $0["id"] as? String }.filter { $0.hasPrefix("lab:") }
        #expect(ids == ["lab:10.50.1.0-24", "lab:10.50.0.0-24"])
        let read = try await Self.get(server.unix, "vnets", "lab")
        #expect(read.text.range(of: "10.50.1.0/24")!.lowerBound < read.text.range(of: "10.50.0.0/24")!.lowerBound)
        let again = try await TestHTTP.send(server.unix, "PUT", "/v1/objects/vnets/lab", body: read.body, headers: ["If-Match": read.headers["etag"] ?? ""])
        #expect(again.status == 200 && again.object["unchanged"] as? Bool == true, "\(again.text)")
        #expect(try await Self.headNumber(server) == 2)
    }

    @Test func createReplaceAndDeleteWithETags() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let unix = server.unix
        let created = try await Self.put(unix, "zones", "lab", ["type": "simple"], headers: ["If-None-Match": "*"])
        #expect(created.status == 201 && created.object["revision"] as? Int == 2 && created.object["unchanged"] as? Bool == false, "\(created.text)")
        let etag = created.headers["etag"] ?? ""
        #expect(!etag.isEmpty && created.object["etag"] as? String == etag)
        #expect(try await server.store.revision(2)?.summary.message == "create /zones/lab")

        let again = try await Self.put(unix, "zones", "lab", ["type": "simple"], headers: ["If-None-Match": "*"])
        #expect(again.status == 412 && again.errorCode == "precondition-failed" && again.text.contains("already exists"), "\(again.text)")
        let blind = try await Self.put(unix, "zones", "lab", ["type": "simple", "mtu": 1400])
        #expect(blind.status == 428 && blind.errorCode == "precondition-required", "\(blind.text)")
        let stale = try await Self.put(unix, "zones", "lab", ["type": "simple", "mtu": 1400], headers: ["If-Match": "\"0123456789abcdef01234567\""])
        #expect(stale.status == 412 && ((stale.object["error"] as? [String: Any])?["message"] as? String)?.contains(etag) == true, "\(stale.text)")
        let missing = try await Self.put(unix, "zones", "nowhere", ["type": "simple"], headers: ["If-Match": etag])
        #expect(missing.status == 412, "If-Match on an object that does not exist: \(missing.text)")
        #expect(try await Self.headNumber(server) == 2)

        let replaced = try await Self.put(unix, "zones", "lab", ["type": "simple", "mtu": 1400], headers: ["If-Match": etag])
        #expect(replaced.status == 200 && replaced.object["revision"] as? Int == 3, "\(replaced.text)")
        let newETag = replaced.headers["etag"] ?? ""
        #expect(newETag != etag && (replaced.object["object"] as? [String: Any])?["mtu"] as? Int == 1400)
        #expect(try await Self.get(unix, "zones", "lab").headers["etag"] == newETag)
        #expect(try await server.store.revision(3)?.summary.message == "replace /zones/lab")

        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/objects/zones/lab", headers: ["If-Match": etag]).status == 412)
        let deleted = try await TestHTTP.send(unix, "DELETE", "/v1/objects/zones/lab", headers: ["If-Match": newETag])
        #expect(deleted.status == 200 && deleted.object["revision"] as? Int == 4, "\(deleted.text)")
        #expect(try await Self.get(unix, "zones", "lab").status == 404)
        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/objects/zones/lab").status == 404)

        // Parts: a subnet's gateway, a new NIC, an uplink; each changes its parent's ETag too.
        let subnet = try await Self.get(unix, "subnets", "db:10.20.0.0-24")
        let vnetBefore = try await Self.get(unix, "vnets", "db").headers["etag"]
        let gateway = try await Self.put(unix, "subnets", "db:10.20.0.0-24", ["gateway": "10.20.0.254", "dhcp": ["10.20.0.100-10.20.0.150"]],
                                         headers: ["If-Match": subnet.headers["etag"] ?? ""])
        #expect(gateway.status == 200, "\(gateway.text)")
        let vnet = try await Self.get(unix, "vnets", "db")
        #expect(vnet.headers["etag"] != vnetBefore)
        let subnets = (vnet.object["object"] as? [String: Any])?["subnets"] as? [String: [String: Any]]
        #expect(subnets?["10.20.0.0/24"]?["gateway"] as? String == "10.20.0.254")
        let nic = try await Self.put(unix, "nics", "101:net1", ["vnet": "db", "ip": ["10.20.0.31"]])
        #expect(nic.status == 201 && nic.object["path"] as? String == "/guests/101/nics/net1", "\(nic.text)")
        let orphan = try await Self.put(unix, "subnets", "nowhere:10.30.0.0-24", ["gateway": "10.30.0.1"])
        #expect(orphan.status == 404 && orphan.text.contains("no vnet 'nowhere'"), "\(orphan.text)")
        let uplink = try await Self.put(unix, "uplinks", "demo1:eth1", [String: Any](), headers: ["If-None-Match": "*"])
        #expect(uplink.status == 201, "\(uplink.text)")
        // An id the configuration writes otherwise is refused, naming the spelling it would get.
        let padded = try await Self.put(unix, "guests", "0301", ["name": "lab1", "node": "demo1", "nics": [String: Any]()])
        #expect(padded.status == 400 && padded.text.contains("'301'"), "\(padded.text)")
        // The cluster policy always exists; deleting it twice changes nothing the second time.
        #expect(try await TestHTTP.send(unix, "DELETE", "/v1/objects/policies/cluster").status == 200)
        let head = try await Self.headNumber(server)
        let twice = try await TestHTTP.send(unix, "DELETE", "/v1/objects/policies/cluster")
        let headAfter = try await Self.headNumber(server)
        #expect(twice.status == 200 && twice.object["unchanged"] as? Bool == true && headAfter == head)
    }

    @Test func deletingAReferencedObjectNamesItsReferrers() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let vnet = try await TestHTTP.send(server.unix, "DELETE", "/v1/objects/vnets/web")
        #expect(vnet.status == 409 && vnet.errorCode == "in-use", "\(vnet.text)")
        #expect(vnet.text.contains("guests.101.nics.net0.vnet") && vnet.text.contains("guests.102.nics.net0.vnet"), "\(vnet.text)")
        let ipset = try await TestHTTP.send(server.unix, "DELETE", "/v1/objects/ipsets/admins")
        #expect(ipset.status == 409 && ipset.text.contains("admins") && ipset.text.contains("cluster"), "\(ipset.text)")
        #expect(!(ipset.object["diagnostics"] as? [Any] ?? []).isEmpty)
        #expect(try await Self.headNumber(server) == 1)
        let audit = try await server.store.audit(after: 0, limit: 100)
        #expect(audit.contains { $0.action == "DELETE /v1/objects/vnets/web" && $0.outcome == "conflict" && $0.object == "/vnets/web" && $0.detail.contains("guests.101") })
    }

    @Test func invalidBodiesAreRefusedWithTheFieldAndStoreNothing() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let unix = server.unix
        let etag = try await Self.get(unix, "vnets", "web").headers["etag"] ?? ""
        let zone = try await Self.put(unix, "vnets", "web", ["zone": "nowhere", "subnets": [String: Any]()], headers: ["If-Match": etag])
        #expect(zone.status == 422 && zone.errorCode == "invalid-config", "\(zone.text)")
        #expect((zone.object["error"] as? [String: Any])?["field"] as? String == "object.zone", "\(zone.text)")
        let pointers = (zone.object["diagnostics"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
        #expect(pointers.contains("/object/zone"), "\(zone.text)")
        let mtu = try await Self.put(unix, "vnets", "web", ["zone": "local", "mtu": "large"], headers: ["If-Match": etag])
        #expect(mtu.status == 422 && (mtu.object["error"] as? [String: Any])?["field"] as? String == "object.mtu", "\(mtu.text)")
        let gateway = try await Self.put(unix, "subnets", "web:10.10.0.0-24", ["gateway": "10.99.0.1"], headers: ["If-Match": "*"])
        #expect(gateway.status == 422 && (gateway.object["diagnostics"] as? [[String: Any]] ?? []).contains { $0["pointer"] as? String == "/object/gateway" },
                "\(gateway.text)")

        let notJSON = try await TestHTTP.send(unix, "PUT", "/v1/objects/vnets/web", body: Data("{\"object\": ".utf8), headers: ["If-Match": etag])
        #expect(notJSON.status == 400 && notJSON.text.contains("not valid JSON"))
        let noObject = try await TestHTTP.send(unix, "PUT", "/v1/objects/vnets/web", json: ["kind": "vnets"], headers: ["If-Match": etag])
        #expect(noObject.status == 400 && (noObject.object["error"] as? [String: Any])?["field"] as? String == "object")
        let wrongKind = try await TestHTTP.send(unix, "PUT", "/v1/objects/vnets/web", json: ["kind": "zones", "object": ["zone": "local"]], headers: ["If-Match": etag])
        #expect(wrongKind.status == 400 && (wrongKind.object["error"] as? [String: Any])?["field"] as? String == "kind")
        let wrongID = try await TestHTTP.send(unix, "PUT", "/v1/objects/vnets/web", json: ["id": "db", "object": ["zone": "local"]], headers: ["If-Match": etag])
        #expect(wrongID.status == 400 && (wrongID.object["error"] as? [String: Any])?["field"] as? String == "id")
        let nullItem = try await Self.put(unix, "ipsets", "admins", ["192.0.2.1", NSNull()], headers: ["If-Match": "*"])
        #expect(nullItem.status == 400 && (nullItem.object["error"] as? [String: Any])?["field"] as? String == "object.1", "\(nullItem.text)")
        let badPolicy = try await Self.put(unix, "policies", "group:webserver", ["rules": [String]()])
        #expect(badPolicy.status == 400 && badPolicy.text.contains("/v1/objects/groups/webserver"))
        #expect(try await Self.put(unix, "widgets", "x", [String: Any]()).status == 400)
        #expect(try await TestHTTP.send(unix, "PUT", "/v1/objects/vnets/web", json: ["object": ["zone": "local"]], headers: ["If-None-Match": "\"x\""]).status == 400)
        #expect(try await Self.headNumber(server) == 1)
        let audit = try await server.store.audit(after: 0, limit: 100)
        #expect(audit.filter { $0.action == "PUT /v1/objects/vnets/web" && $0.outcome == "invalid" }.count >= 6)
    }

    @Test func rolesAreCheckedOnTheObjectPath() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let tcp = server.tcp
        let network = try await server.token("NetworkAdmin"), firewall = try await server.token("FirewallAdmin")
        let scoped = try await server.token("NetworkAdmin", prefix: "/vnets/db/subnets")
        func bearer(_ token: (id: String, secret: String)) -> [String: String] { ["Authorization": "Bearer \(token.secret)", "If-Match": "*"] }
        let vnet: [String: Any] = ["zone": "local", "alias": "databases", "subnets": ["10.20.0.0/24": ["gateway": "10.20.0.1"]]]

        let denied = try await Self.put(tcp, "vnets", "db", vnet, headers: bearer(firewall))
        #expect(denied.status == 403 && denied.text.contains("/vnets/db"), "\(denied.text)")
        #expect(try await TestHTTP.send(tcp, "DELETE", "/v1/objects/vnets/db", headers: bearer(firewall)).status == 403)
        #expect(try await Self.headNumber(server) == 1)
        let allowed = try await Self.put(tcp, "vnets", "db", vnet, headers: bearer(network))
        #expect(allowed.status == 200, "\(allowed.text)")
        #expect(try await Self.put(tcp, "policies", "guest:201", ["rules": [String]()], headers: bearer(network)).status == 403)
        #expect(try await Self.put(tcp, "ipsets", "admins", ["192.0.2.0/28"], headers: bearer(firewall)).status == 200)
        #expect(try await Self.put(tcp, "ipsets", "admins", ["192.0.2.0/29"], headers: bearer(network)).status == 403)
        // A token limited to a vnet's subnets may edit them, though the write changes the vnet that holds them.
        let subnet = try await Self.put(tcp, "subnets", "db:10.20.0.0-24", ["gateway": "10.20.0.2"], headers: bearer(scoped))
        #expect(subnet.status == 200, "\(subnet.text)")
        #expect(try await Self.put(tcp, "subnets", "web:10.10.0.0-24", ["gateway": "10.10.0.2"], headers: bearer(scoped)).status == 403)

        let audit = try await server.store.audit(after: 0, limit: 1000)
        #expect(audit.contains { $0.action == "PUT /v1/objects/vnets/db" && $0.outcome == "denied" && $0.actor == "token:\(firewall.id)" && $0.object == "/vnets/db" })
        #expect(audit.contains { $0.action == "PUT /v1/objects/vnets/db" && $0.outcome == "ok" && $0.actor == "token:\(network.id)" && $0.revision == 2 && $0.detail == "replaced" })
        #expect(audit.contains { $0.object == "/vnets/db/subnets/10.20.0.0-24" && $0.outcome == "ok" && $0.actor == "token:\(scoped.id)" })
    }

    @Test func concurrentWritesOfTwoObjectsBothSucceedAndOfOneObjectOneFails() async throws {
        let server = try await Self.demoServer()
        defer { Task { await server.stop() } }
        let unix = server.unix
        let web = try await Self.get(unix, "vnets", "web"), db = try await Self.get(unix, "vnets", "db")
        func retitled(_ reply: HTTPReply, _ alias: String) -> [String: Any] {
            var object = reply.object["object"] as? [String: Any] ?? [:]
            object["alias"] = alias
            return object
        }
        async let first = Self.put(unix, "vnets", "web", retitled(web, "web one"), headers: ["If-Match": web.headers["etag"] ?? ""])
        async let second = Self.put(unix, "vnets", "db", retitled(db, "db one"), headers: ["If-Match": db.headers["etag"] ?? ""])
        let (one, two) = try await (first, second)
        #expect(one.status == 200 && two.status == 200, "\(one.text) \(two.text)")
        #expect(Set([one.object["revision"] as? Int, two.object["revision"] as? Int]) == [2, 3])
        func alias(_ id: String) async throws -> String? {
            (try await Self.get(unix, "vnets", id).object["object"] as? [String: Any])?["alias"] as? String
        }
        let (webAlias, dbAlias) = (try await alias("web"), try await alias("db"))
        #expect(webAlias == "web one" && dbAlias == "db one")

        let current = try await Self.get(unix, "vnets", "web")
        async let third = Self.put(unix, "vnets", "web", retitled(current, "web two"), headers: ["If-Match": current.headers["etag"] ?? ""])
        async let fourth = Self.put(unix, "vnets", "web", retitled(current, "web three"), headers: ["If-Match": current.headers["etag"] ?? ""])
        let (three, four) = try await (third, fourth)
        #expect([three.status, four.status].sorted() == [200, 412], "\(three.text) \(four.text)")
        let winner = three.status == 200 ? "web two" : "web three"
        let (finalWeb, finalDB) = (try await alias("web"), try await alias("db"))
        #expect(finalWeb == winner && finalDB == "db one")
        #expect(try await Self.headNumber(server) == 4)
    }
}
