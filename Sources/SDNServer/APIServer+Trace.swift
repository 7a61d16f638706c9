import Foundation
import Hummingbird
import SDNConfig
import SDNFirewall
import SDNModel
import SDNNFTables
import SDNStore

extension APIServer {
    /// `POST /v1/trace`: `sdn trace` over the API, on a revision's compiled ruleset.
    func trace(_ call: inout APICall) async throws -> Response {
        try call.require(.read, on: "/")
        struct Body: Decodable {
            var from: String
            var to: String
            var service: String
            var srcIp: String?
            var srcMac: String?
            var dstIp: String?
            var state: String?
            var node: String?
            var kernel: String?
            var revision: Int64?
        }
        let body = try await call.decode(Body.self)
        let number: RevisionNumber
        if let requested = body.revision {
            number = try await existingRevision(requested)
        } else if let target = try await store.target() {
            number = target
        } else {
            number = try await existingRevision(nil)
        }
        guard let revision = try await store.revision(number) else { throw APIError.notFound("no revision \(number)", field: "revision") }
        let (validated, diagnostics) = ConfigLoader.loadAndValidate(ConfigWorkspace.configDocuments(revision.documents))
        guard let validated else {
            throw APIError.conflict("revision \(number) does not validate (\(diagnostics.errors.first?.description ?? "")); trace another revision")
        }
        let desired = validated.value
        let nodeName: String
        if let node = body.node {
            guard desired.nodes.contains(where: { $0.name == node }) else {
                throw APIError.badRequest("revision \(number) has no node '\(node)'; it has \(desired.nodes.map(\.name).joined(separator: ", "))", field: "node")
            }
            nodeName = node
        } else if desired.nodes.contains(where: { $0.name == control.nodeName }) {
            nodeName = control.nodeName
        } else if desired.nodes.count == 1 {
            nodeName = desired.nodes[0].name
        } else {
            throw APIError.badRequest("name the node to trace on (node): revision \(number) has \(desired.nodes.map(\.name).joined(separator: ", "))", field: "node")
        }
        guard let connectionState = Packet.ConnectionState(rawValue: body.state ?? "new") else {
            throw APIError.badRequest("'\(body.state ?? "")' is not a connection state; use new, established, related or invalid", field: "state")
        }
        let features: KernelFeatures
        switch body.kernel ?? "full" {
        case "full": features = .full
        case "minimal": features = .minimal
        default: throw APIError.badRequest("kernel must be full or minimal", field: "kernel")
        }
        func parsed<T>(_ text: String?, _ field: String, _ what: String, _ parse: (String) throws -> T) throws(APIError) -> T? {
            guard let text else { return nil }
            do { return try parse(text) } catch { throw APIError.badRequest("'\(text)' is not \(what)", field: field) }
        }
        let forgedSource = try parsed(body.srcIp, "srcIp", "an IP address") { try IPAddress($0) }
        let forgedMAC = try parsed(body.srcMac, "srcMac", "a MAC address") { try MACAddress($0) }
        let otherDestination = try parsed(body.dstIp, "dstIp", "an IP address") { try IPAddress($0) }
        let path: TraceScenario.Path
        do {
            let from: TraceScenario.Endpoint
            do { from = try .parse(body.from, in: desired) } catch { throw APIError.badRequest(error.description, field: "from") }
            let to: TraceScenario.Endpoint
            do { to = try .parse(body.to, in: desired) } catch { throw APIError.badRequest(error.description, field: "to") }
            let service: TraceScenario.Service
            do { service = try .parse(body.service) } catch { throw APIError.badRequest(error.description, field: "service") }
            path = try TraceScenario.path(from: from, to: to, service: service, state: connectionState, in: desired, node: nodeName, features: features,
                                          sourceAddress: forgedSource, sourceMAC: forgedMAC, destinationAddress: otherDestination)
        } catch let error as TraceScenario.TraceError {
            throw APIError.badRequest(error.description)
        }
        let ruleset = await FirewallCompiler.compile(validated, node: nodeName, features: features, parallelism: .serial).ruleset
        let interpreter = PacketInterpreter(ruleset: ruleset)
        var legs: [RenderedTree] = []
        var final: PacketVerdict = .accept
        for leg in path.legs {
            let trace = try interpreter.trace(leg.packet, at: leg.hook)
            var fields: [(String, RenderedTree)] = [("hook", .string(leg.hook.description))]
            if let priorities = leg.hook.priorityDescription { fields.append(("priority", .string(priorities))) }
            fields += [
                ("what", .string(leg.what)),
                ("packet", .string(leg.packet.description)),
                ("verdict", .string(trace.verdict.description)),
                ("steps", .list(trace.steps.map { step in
                    var fields: [(String, RenderedTree)] = [
                        ("table", .string("\(step.family.rawValue) \(step.table)")), ("chain", .string(step.chain)),
                        ("rule", .string(step.text)), ("matched", .bool(step.matched)),
                    ]
                    if let id = step.ruleID { fields.append(("id", .string(id))) }
                    if let action = step.action { fields.append(("action", .string(action.description))) }
                    if let origin = step.origin { fields.append(("origin", .string(origin.description))) }
                    return .map(fields)
                })),
            ]
            legs.append(.map(fields))
            if trace.verdict != .accept {
                final = trace.verdict
                break
            }
        }
        let incomplete = final == .accept ? path.incomplete : nil
        var fields: [(String, RenderedTree)] = [
            ("revision", .integer(Int(number))), ("node", .string(nodeName)),
            ("verdict", .string(final.description)), ("complete", .bool(incomplete == nil)),
        ]
        if let incomplete { fields.append(("incomplete", .string(incomplete))) }
        fields += [
            ("path", .string(path.summary)),
            ("kernel", .map([("layout", .string(features.guestMode == .brNetfilter ? "minimal" : "full")), ("guestFirewall", .string(features.guestMode.rawValue))])),
            ("packet", .string(path.legs.first?.packet.description ?? "")),
            ("legs", .list(legs)),
        ]
        return try Self.json(JSONValue.tree(.map(fields)))
    }
}
