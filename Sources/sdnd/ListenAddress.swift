import ArgumentParser
import Foundation
import Glibc
import Hummingbird

/// Where the API listens: a Unix socket (trusted by its file permissions), TLS on any address, or
/// plain HTTP on loopback only (both TCP forms need bearer tokens).
enum ListenAddress: CustomStringConvertible, Sendable {
    case unix(path: String)
    case http(host: String, port: Int)
    case https(host: String, port: Int)

    static let forms = "write unix:///PATH, https://ADDRESS:PORT (e.g. https://0.0.0.0:8443, https://[::]:8443) or http://127.0.0.1:PORT"

    init(parsing text: String) throws {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw ValidationError("--listen \(text): a Unix socket needs an absolute path (unix:///run/sdn/sdnd.sock)") }
            self = .unix(path: path)
        } else if text.hasPrefix("https://") {
            let (host, port) = try Self.hostAndPort(text, scheme: "https")
            self = .https(host: host, port: port)
        } else if text.hasPrefix("http://") {
            let (host, port) = try Self.hostAndPort(text, scheme: "http")
            // Tokens travel in clear over plain HTTP: only where nobody else can listen.
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else {
                throw ValidationError("--listen \(text): plain HTTP is allowed on loopback only (tokens would cross the network in clear); listen with TLS instead: https://\(Self.bracketed(host)):\(port)")
            }
            self = .http(host: host, port: port)
        } else {
            throw ValidationError("--listen \(text): \(Self.forms)")
        }
    }

    /// `ADDRESS:PORT` after the scheme; an IPv6 address in brackets, as in a URL.
    private static func hostAndPort(_ text: String, scheme: String) throws -> (String, Int) {
        var rest = String(text.dropFirst(scheme.count + 3))
        if rest.hasSuffix("/") { rest.removeLast() }
        guard !rest.contains("/"), let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen \(text): write \(scheme)://ADDRESS:PORT with no path, e.g. \(scheme)://\(scheme == "https" ? "0.0.0.0" : "127.0.0.1"):8443")
        }
        let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { throw ValidationError("--listen \(text): no address; \(forms)") }
        return (host, port)
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    var trusted: Bool { if case .unix = self { true } else { false } }

    /// The address of a TLS listener (for the certificate's names), nil for the others.
    var tlsHost: String? { if case .https(let host, _) = self { host } else { nil } }

    var bindAddress: BindAddress {
        switch self {
        case .unix(let path): .unixDomainSocket(path: path)
        case .http(let host, let port), .https(let host, let port): .hostname(host, port: port)
        }
    }

    var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .http(let host, let port): "http://\(Self.bracketed(host)):\(port)"
        case .https(let host, let port): "https://\(Self.bracketed(host)):\(port)"
        }
    }

    /// Before binding: the socket's directory exists (0750), and a socket file left by a daemon that
    /// died is removed — unless a daemon still answers on it, which is an error.
    func prepare() throws {
        guard case .unix(let path) = self else { return }
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        guard FileManager.default.fileExists(atPath: path) else { return }
        if Self.someoneListens(on: path) {
            throw ValidationError("\(path): another sdnd is listening there; stop it first (or choose another --listen)")
        }
        try FileManager.default.removeItem(atPath: path)
    }

    /// Once listening: the socket is rw for its owner and group only (like libvirt's and Incus's).
    func listening() {
        guard case .unix(let path) = self else { return }
        chmod(path, 0o660)
    }

    private static func someoneListens(on path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (index, byte) in bytes.enumerated() { buffer[index] = byte } }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }
}
