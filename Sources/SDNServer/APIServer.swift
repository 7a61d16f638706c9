import Crypto
import HTTPTypes
import Foundation
public import Hummingbird
public import HummingbirdCore
import Synchronization
public import Logging
public import NIOCore
import SDNConfig
public import SDNDaemon
import SDNFirewall
import SDNModel
import SDNNFTables
public import SDNStore
#if canImport(Glibc)
import Glibc
#endif

/// The request context of the API: Hummingbird's, plus the connection's channel (the Unix socket's
/// peer credentials are read from it).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Settings of the HTTP API.
public struct APIServerOptions: Sendable {
    /// Larger request bodies are refused with 413 (and audited).
    public var maximumBodySize: Int
    /// How often the event stream sends a keepalive comment.
    public var keepaliveInterval: Duration
    /// How often an edit is retried when other writes keep moving the head.
    public var editAttempts: Int

    public init(maximumBodySize: Int = 8 << 20, keepaliveInterval: Duration = .seconds(15), editAttempts: Int = 16) {
        self.maximumBodySize = maximumBodySize
        self.keepaliveInterval = keepaliveInterval
        self.editAttempts = editAttempts
    }
}

/// The HTTP API of `sdnd` (the contract is `openapi.yaml` in this module). One `APIServer` serves both
/// listeners: the Unix socket is trusted, TCP needs a bearer token.
public final class APIServer: Sendable {
    public let store: any StateStore
    public let control: any NodeControl
    public let metrics: ServerMetrics
    public let options: APIServerOptions
    /// Revisions are immutable: the validated model of the last ones parsed, by number (a 1,000-guest
    /// revision is 1.5 MB of YAML; every object read and edit would parse it again). Shared with the
    /// node's reconcile loop, which then need not parse what an edit just wrote.
    public let stateCache: RevisionStateCache
    /// The head's objects, by the revision they were made from (see `headObjects()`).
    /// The last status answered and its encoding (see `statusResponse`).
    let statusCache = Mutex<(status: StatusJSON, body: ByteBuffer)?>(nil)
    let objectsCache = Mutex<(number: RevisionNumber, objects: [ObjectKind: [ModelObject]])?>(nil)

    public init(store: any StateStore, control: any NodeControl, metrics: ServerMetrics = ServerMetrics(), options: APIServerOptions = APIServerOptions(),
                stateCache: RevisionStateCache = RevisionStateCache()) {
        self.store = store
        self.control = control
        self.metrics = metrics
        self.options = options
        self.stateCache = stateCache
    }

    /// `revision` as a model, parsed once per revision.
    func state(of revision: Revision) throws(APIError) -> DesiredState {
        if let validated = validatedState(of: revision) { return validated.value }
        // Stored before a rule this version checks existed: readable, though no longer valid.
        return try ConfigWorkspace.state(of: revision)
    }

    /// `revision` as a validated model (nil when it no longer validates), parsed once per revision.
    func validatedState(of revision: Revision) -> Validated<DesiredState>? {
        if let cached = stateCache.state(of: revision.number) { return cached }
        guard let validated = ConfigLoader.loadAndValidate(ConfigWorkspace.configDocuments(revision.documents)).validated else { return nil }
        stateCache.remember(validated, for: revision.number)
        return validated
    }

    /// The OpenAPI document served at `/openapi.yaml`.
    public static func openAPIDocument() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw APIError(.internalServerError, code: "internal", "openapi.yaml is missing from the SDNServer bundle")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Every route as `METHOD /path/{param}`, as the spec writes them.
    public static var routeList: [String] { routeTable.map { "\($0.method.rawValue) \($0.template)" } }

    /// The responder of one listener.
    public func responder(trusted: Bool) -> CallbackResponder<APIRequestContext> {
        CallbackResponder { request, context in
            await self.respond(to: request, context: context, trusted: trusted)
        }
    }

    /// An application serving the API on one address (a Unix socket: `trusted`; TCP: tokens), over
    /// `server`: plain HTTP/1.1, or (sdnd's https:// listeners) HummingbirdTLS's `.tls(.http1(), …)`.
    public func makeApplication(trusted: Bool, address: BindAddress, server: HTTPServerBuilder = .http1(), serverName: String? = "sdnd",
                                logger: Logger? = nil,
                                onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> Application<CallbackResponder<APIRequestContext>> {
        Application(responder: responder(trusted: trusted), server: server, configuration: .init(address: address, serverName: serverName),
                    onServerRunning: onServerRunning, logger: logger)
    }

    // MARK: dispatch

    private func respond(to request: Request, context: APIRequestContext, trusted: Bool) async -> Response {
        let start = ContinuousClock.now
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        let candidates = Self.routeTable.compactMap { route in route.match(segments).map { (route, $0) } }
        let found = candidates.first { $0.0.method == request.method }
        var call = APICall(request: request, caller: Caller(actor: "anonymous", role: nil, pathPrefix: "/"), parameters: found?.1 ?? [:],
                           maximumBodySize: options.maximumBodySize)
        for (key, value) in request.uri.queryParameters { call.query[String(key)] = String(value).removingPercentEncoding ?? String(value) }
        let routeName = found?.0.template ?? (candidates.first?.0.template ?? "unmatched")
        var response: Response
        do {
            guard let (route, _) = found else {
                if candidates.isEmpty {
                    throw APIError.notFound("no route \(request.uri.path); GET /openapi.yaml lists the API")
                }
                var error = APIError(.methodNotAllowed, code: "method-not-allowed",
                                     "\(request.uri.path) does not take \(request.method.rawValue); it takes \(candidates.map(\.0.method.rawValue).joined(separator: ", "))")
                error.field = nil
                throw error
            }
            if route.requiresToken {
                call.caller = try await authenticate(request, context: context, trusted: trusted)
            } else {
                call.caller = trusted ? await unixCaller(context) : Caller(actor: "anonymous", role: .auditor, pathPrefix: "/")
            }
            response = try await route.handler(self, &call)
        } catch let refusal as TokenRefusal {
            call.caller.actor = refusal.actor
            response = Self.errorResponse(refusal.error)
            call.audit.detail = refusal.error.message
        } catch let error as APIError {
            response = Self.errorResponse(error)
            if call.audit.detail.isEmpty { call.audit.detail = error.message }
        } catch let error as StateStoreError {
            let apiError: APIError = switch error {
            case .headMoved: .stale("\(error); read the configuration again and retry")
            case .noSuchRevision: .notFound("\(error)")
            case .noSuchToken: .notFound("\(error)")
            // etcd or the SQLite file failing is not the request's fault, and the nodes keep enforcing
            // what they applied: say so, and that a retry will do once the store is back.
            case .storage: APIError(.serviceUnavailable, code: "store-unavailable",
                                    "\(error); nothing was changed, and every node keeps enforcing the revision it applied: retry once the store answers")
            }
            response = Self.errorResponse(apiError)
            call.audit.detail = apiError.message
        } catch let error as NodeControlError {
            let apiError = Self.apiError(error)
            response = Self.errorResponse(apiError)
            call.audit.detail = apiError.message
        } catch {
            let apiError = APIError(.internalServerError, code: "internal", "the server failed: \(error)")
            response = Self.errorResponse(apiError)
            call.audit.detail = apiError.message
        }
        if !call.timings.isEmpty {
            response.headers[HTTPField.Name("Server-Timing")!] = call.timings.map { "\($0.name);dur=" + String(format: "%.2f", $0.milliseconds) }.joined(separator: ", ")
        }
        metrics.record(route: routeName, method: request.method.rawValue, status: response.status.code, duration: ContinuousClock.now - start)
        let isWrite = ![.get, .head].contains(request.method)
        let refused = [401, 403, 413].contains(response.status.code)
        if (isWrite && found != nil) || refused {
            let entry = AuditEntry(actor: call.caller.actor, action: "\(request.method.rawValue) \(request.uri.path)", object: call.audit.object,
                                   outcome: APIError.auditOutcome(response.status), revision: call.audit.revision, detail: call.audit.detail)
            _ = try? await store.appendAudit(entry)
        }
        return response
    }

    /// The node's refusals as the spec words them: a revision this node cannot run is the state's fault
    /// (409), not the server's; only a kernel that cannot be read is a server failure.
    static func apiError(_ error: NodeControlError) -> APIError {
        switch error {
        case .noRevision:
            .conflict("there is no revision yet; push a configuration first (PUT /v1/config or 'sdn push')")
        case .noSuchRevision(let number):
            .notFound("no revision \(number); GET /v1/revisions lists them", field: "revision")
        case .invalidRevision(let number, let failure):
            .conflict("revision \(number) cannot run on this node: \(failure); push a configuration that describes it, or name another revision")
        case .kernel(let message):
            APIError(.internalServerError, code: "internal", "the node failed: \(message)")
        case .unknownGuest, .notAGuestPort:
            .notFound("\(error)")
        case .guestOnOtherNode, .wrongGuestKind:
            .conflict("\(error)")
        case .portsNotReady:
            // The guest's state (no such port, a vnet this node does not carry), not a server failure.
            APIError(.conflict, code: "ports-not-ready", "\(error)")
        }
    }

    private func unixCaller(_ context: APIRequestContext) async -> Caller {
        .unix(uid: await Self.peerUID(context.channel))
    }

    /// The peer's uid on a Unix socket (SO_PEERCRED), nil where it cannot be read.
    static func peerUID(_ channel: any Channel) async -> UInt32? {
        #if canImport(Glibc)
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        // struct ucred of <sys/socket.h> (Glibc exposes it only with _GNU_SOURCE).
        struct PeerCredentials {
            var pid: Int32
            var uid: UInt32
            var gid: UInt32
        }
        let credentials: PeerCredentials? = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        return credentials.map { UInt32($0.uid) }
        #else
        return nil
        #endif
    }

    private func authenticate(_ request: Request, context: APIRequestContext, trusted: Bool) async throws -> Caller {
        if trusted { return await unixCaller(context) }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthenticated("unauthenticated", "this listener needs an API token: send 'Authorization: Bearer <secret>' (create one with 'sdn token create' over the Unix socket)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw Self.unauthenticated("unauthenticated", "the Authorization header must be 'Bearer <secret>'")
        }
        let hash = Array(SHA256.hash(data: Data(parts[1].utf8)))
        guard let token = try await store.token(secretHash: hash) else {
            throw Self.unauthenticated("unauthenticated", "the token is not known to this daemon; check the secret, or create a token with 'sdn token create'")
        }
        let now = Date()
        if let revoked = token.revokedAt {
            var error = Self.unauthenticated("token-revoked", "token \(token.id) was revoked at \(revoked.formatted(.iso8601)); create a new one")
            error.field = nil
            throw TokenRefusal(error: error, actor: "token:\(token.id)")
        }
        if let expires = token.expiresAt, now >= expires {
            let error = Self.unauthenticated("token-expired", "token \(token.id) expired at \(expires.formatted(.iso8601)); create a new one")
            throw TokenRefusal(error: error, actor: "token:\(token.id)")
        }
        return .token(token)
    }

    static func unauthenticated(_ code: String, _ message: String) -> APIError {
        APIError(.unauthorized, code: code, message)
    }

    // MARK: encoding

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A JSON text made by hand (objects of the model keep their members' order).
    static func json(text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func errorResponse(_ error: APIError) -> Response {
        var headers: HTTPFields = [:]
        if error.status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"sdnd\"" }
        return (try? json(error.body, status: error.status, headers: headers))
            ?? Response(status: .internalServerError)
    }
}

/// A 401 for a token that exists: the audit log names the token.
struct TokenRefusal: Error {
    var error: APIError
    var actor: String
}

/// One request as the handlers see it.
struct APICall: Sendable {
    var request: Request
    var caller: Caller
    var parameters: [String: String]
    var query: [String: String] = [:]
    let maximumBodySize: Int
    /// What the audit entry will say.
    var audit: (object: String, revision: RevisionNumber?, detail: String) = ("/", nil, "")
    /// Where a write spent its time, sent back as `Server-Timing` (names and milliseconds).
    var timings: [(name: String, milliseconds: Double)] = []

    /// Runs `body`, adding its duration to `timings` under `name`.
    mutating func timed<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            let (seconds, attoseconds) = elapsed.components
            timings.append((name, Double(seconds) * 1e3 + Double(attoseconds) / 1e15))
        }
        return try await body()
    }

    init(request: Request, caller: Caller, parameters: [String: String], maximumBodySize: Int) {
        self.request = request
        self.caller = caller
        self.parameters = parameters
        self.maximumBodySize = maximumBodySize
    }

    /// Refuses unless the caller may do `operation` on `path`; records the path for the audit log.
    mutating func require(_ operation: Operation, on path: String) throws(APIError) {
        audit.object = path
        guard AccessPolicy.permits(caller, operation, on: path) else {
            throw APIError.forbidden(AccessPolicy.refusal(caller, operation, on: path))
        }
    }

    func parameter(_ name: String) -> String { parameters[name] ?? "" }

    /// The `{id}` of a guest route: a Proxmox-style vmid.
    func guestID() throws(APIError) -> Int {
        let text = parameter("id")
        guard let id = Int(text), Guest.validIDs.contains(id) else {
            throw APIError.badRequest("'\(text)' is not a guest id: ids are integers from \(Guest.validIDs.lowerBound) to \(Guest.validIDs.upperBound)", field: "id")
        }
        return id
    }

    /// An integer query parameter within bounds, or nil when absent.
    func integer(_ name: String, in range: ClosedRange<Int64>) throws(APIError) -> Int64? {
        guard let text = query[name] else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw APIError.badRequest("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound == Int64.max ? "up" : String(range.upperBound)), not '\(text)'", field: name)
        }
        return value
    }

    /// The body, refused with 413 past the limit.
    mutating func body() async throws -> ByteBuffer {
        let tooLarge = APIError(.contentTooLarge, code: "too-large",
                                "the request body is larger than \(maximumBodySize) bytes, the server's limit; send less (e.g. split the documents over several edits) or raise the limit")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodySize { throw tooLarge }
        do { return try await request.collectBody(upTo: maximumBodySize) } catch is NIOTooManyBytesError { throw tooLarge }
    }

    /// The body decoded as JSON; an empty body decodes `empty` when given.
    mutating func decode<T: Decodable>(_ type: T.Type, empty: T? = nil) async throws -> T {
        let buffer = try await body()
        if buffer.readableBytes == 0, let empty { return empty }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Self.describe(error)
        }
    }

    static func describe(_ error: DecodingError) -> APIError {
        func field(_ path: [any CodingKey]) -> String? {
            path.isEmpty ? nil : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let name = field(context.codingPath + [key]) ?? key.stringValue
            return .badRequest("the body lacks '\(name)'; see the request schema in /openapi.yaml", field: name)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let name = field(context.codingPath)
            return .badRequest("'\(name ?? "body")' must be \(Self.typeName(type))", field: name)
        case .dataCorrupted(let context):
            let name = field(context.codingPath)
            return .badRequest(name == nil ? "the body is not valid JSON: \(context.debugDescription)" : "'\(name!)': \(context.debugDescription)", field: name)
        @unknown default:
            return .badRequest("the body does not match the request schema")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is [String].Type: "a list of strings"
        default: "\(type)"
        }
    }
}

/// A route: method, path template (as the spec writes it) and handler.
struct Route: Sendable {
    var method: HTTPRequest.Method
    var template: String
    var requiresToken = true
    var handler: @Sendable (APIServer, inout APICall) async throws -> Response

    init(_ method: HTTPRequest.Method, _ template: String, requiresToken: Bool = true,
         _ handler: @escaping @Sendable (APIServer, inout APICall) async throws -> Response) {
        self.method = method
        self.template = template
        self.requiresToken = requiresToken
        self.handler = handler
    }

    func match(_ segments: [String]) -> [String: String]? {
        let parts = template.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(parts, segments) {
            if part.hasPrefix("{") && part.hasSuffix("}") {
                guard !segment.isEmpty else { return nil }
                parameters[String(part.dropFirst().dropLast())] = segment
            } else if part != segment {
                return nil
            }
        }
        return parameters
    }
}
