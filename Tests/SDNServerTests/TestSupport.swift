import Foundation
import Hummingbird
import SDNDaemon
import SDNServer
import SDNStore
import SDNTesting
#if canImport(Glibc)
import Glibc
#endif

/// A NodeControl that answers from a script: it tests routing and errors, not what a node can do.
struct ScriptedControl: NodeControl {
    let store: InMemoryStateStore
    var nodeName: String { "demo1" }
    func plan(revision: RevisionNumber?) async throws -> NodePlan {
        NodePlan(node: nodeName, revision: revision ?? 0, text: "scripted plan", steps: 1, firewallChanges: 2, conflicts: [], diagnostics: [])
    }
    func apply(revision: RevisionNumber?, author: String) async throws -> NodeApplyResult {
        let number = revision ?? 0
        try await store.setTarget(number, author: author)
        return NodeApplyResult(node: nodeName, revision: number, converged: true, outcome: "converged", errors: [], stepsApplied: 1,
                               linkWrites: 0, firewallMessages: 3, milliseconds: 1.5)
    }
    func status() async throws -> NodeStatusReport {
        NodeStatusReport(node: nodeName, targetRevision: try await store.target(), appliedRevision: try await store.target(),
                         headRevision: try await store.head()?.number, pendingChanges: false, drift: false, lastError: nil,
                         lastReconcile: nil, portsPlugged: ["tap101i0"], portsMissing: [], driftMode: "repair")
    }
    func events() -> AsyncStream<DaemonEvent> {
        AsyncStream { continuation in
            continuation.yield(DaemonEvent(sequence: 7, kind: .portPlugged, node: "demo1", message: "tap101i0 attached to vnet web"))
        }
    }
    func preparePorts(guest: Int) async throws -> GuestPortsReport {
        guard guest == 101 else { throw NodeControlError.unknownGuest(guest, node: nodeName, revision: 1) }
        return GuestPortsReport(node: nodeName, guest: 101, kind: "kvm", operation: .prepare, revision: 1,
                                ports: [GuestPortState(name: "tap101i0", nic: "net0", bridge: "web", present: true, attached: true, firewall: .loaded, created: true)],
                                milliseconds: 2)
    }
    func plugPort(named name: String) async throws -> GuestPortsReport {
        guard name == "veth102i0" else { throw NodeControlError.notAGuestPort(name, node: nodeName) }
        return GuestPortsReport(node: nodeName, guest: 102, kind: "lxc", operation: .plug, revision: 1,
                                ports: [GuestPortState(name: name, nic: "net0", bridge: "web", present: true, attached: true, firewall: .loaded, created: false)],
                                milliseconds: 1)
    }
}

/// A response as the test client read it.
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> Any { try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
    var object: [String: Any] { ((try? json()) as? [String: Any]) ?? [:] }
    var list: [[String: Any]] { ((try? json()) as? [[String: Any]]) ?? [] }
    var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
}

/// Where a test server listens.
enum Endpoint: Sendable {
    case unix(String)
    case tcp(port: Int)
}

/// A minimal HTTP/1.1 client over a real socket (Unix or TCP), one request per connection.
enum TestHTTP {
    static func connect(_ endpoint: Endpoint) throws -> Int32 {
        switch endpoint {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
            }
            let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            guard result == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
            return fd
        case .tcp(let port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard result == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
            return fd
        }
    }

    static func send(_ endpoint: Endpoint, _ method: String, _ path: String, json: Any? = nil, body: Data? = nil,
                     headers: [String: String] = [:]) async throws -> HTTPReply {
        let payload = try body ?? json.map { try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed]) }
        // Blocking socket calls: two clients waiting in recv() on the pool would leave it no thread for the
        // in-process server to answer them on.
        return try await OwnThread.run {
            let fd = try connect(endpoint)
            defer { close(fd) }
            var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            if let payload { head += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n" }
            head += "\r\n"
            var request = Data(head.utf8)
            if let payload { request.append(payload) }
            _ = request.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                    if written <= 0 { break }
                    offset += written
                }
            }
            var received = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received.append(contentsOf: buffer[0..<count])
            }
            return try parse(received)
        }
    }

    static func parse(_ data: Data) throws -> HTTPReply {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw POSIXError(.EPROTO) }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"]?.contains("chunked") == true {
            var decoded = Data()
            var rest = body[...]
            while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
                let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
                if size == 0 { break }
                let start = lineEnd.upperBound
                decoded.append(rest[start..<min(rest.endIndex, start + size)])
                rest = rest[min(rest.endIndex, start + size + 2)...]
            }
            body = decoded
        }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    /// Opens the event stream and returns what arrived until `until` appears in it.
    static func readStream(_ endpoint: Endpoint, _ path: String, until marker: String) async throws -> String {
        try await OwnThread.run {
            let fd = try connect(endpoint)
            defer { close(fd) }
            let head = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"
            _ = head.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            var received = ""
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !received.contains(marker) {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += String(decoding: buffer[0..<count], as: UTF8.self)
            }
            return received
        }
    }
}

/// The API served on a Unix socket in a temporary directory and on 127.0.0.1 (an ephemeral port), for one test.
struct RunningServer {
    let store: InMemoryStateStore
    let api: APIServer
    let unix: Endpoint
    let tcp: Endpoint
    let tasks: [Task<Void, any Error>]
    let directory: String

    static func start(options: APIServerOptions = APIServerOptions()) async throws -> RunningServer {
        let store = InMemoryStateStore()
        let api = APIServer(store: store, control: ScriptedControl(store: store), options: options)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdnd-api-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let socketPath = directory + "/sdnd.sock"
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        let unixApp = api.makeApplication(trusted: true, address: .unixDomainSocket(path: socketPath)) { _ in readyContinuation.yield() }
        let tcpApp = api.makeApplication(trusted: false, address: .hostname("127.0.0.1", port: 0)) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
        }
        let tasks = [Task { try await unixApp.run() }, Task { try await tcpApp.run() }]
        var portIterator = ports.makeAsyncIterator()
        let port = await portIterator.next() ?? 0
        var readyIterator = ready.makeAsyncIterator()
        _ = await readyIterator.next()
        return RunningServer(store: store, api: api, unix: .unix(socketPath), tcp: .tcp(port: port), tasks: tasks, directory: directory)
    }

    func stop() async {
        for task in tasks { task.cancel() }
        for task in tasks { _ = try? await task.value }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A token's secret for a role, made through the trusted socket.
    func token(_ role: String, prefix: String? = nil, expiresIn: Int? = nil) async throws -> (id: String, secret: String) {
        var body: [String: Any] = ["role": role]
        if let prefix { body["pathPrefix"] = prefix }
        if let expiresIn { body["expiresInSeconds"] = expiresIn }
        let reply = try await TestHTTP.send(unix, "POST", "/v1/tokens", json: body)
        return (reply.object["id"] as? String ?? "", reply.object["secret"] as? String ?? "")
    }
}

func repositoryFile(_ path: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
}
