import ArgumentParser
import Foundation
import Glibc
import Hummingbird

/// Where the API listens: a Unix socket (trusted by its file permissions) or TCP (bearer tokens).
enum ListenAddress: CustomStringConvertible, Sendable {
    case unix(path: String)
    case tcp(host: String, port: Int)

    init(parsing text: String) throws {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw ValidationError("--listen \(text): a Unix socket needs an absolute path (unix:///run/sdn/sdnd.sock)") }
            self = .unix(path: path)
        } else if text.hasPrefix("http://") {
            let rest = String(text.dropFirst("http://".count)).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else {
                throw ValidationError("--listen \(text): write http://ADDRESS:PORT, e.g. http://127.0.0.1:8443")
            }
            let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            // Tokens travel in clear over plain HTTP: only where nobody else can listen.
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else {
                throw ValidationError("--listen \(text): plain HTTP is allowed on loopback only (tokens would cross the network in clear); TLS listeners are not in this build yet: use the Unix socket, or an SSH tunnel to a loopback listener")
            }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("https://") {
            throw ValidationError("--listen \(text): TLS listeners are not in this build yet; use unix:///PATH, or http://127.0.0.1:PORT behind an SSH tunnel")
        } else {
            throw ValidationError("--listen \(text): write unix:///PATH or http://127.0.0.1:PORT")
        }
    }

    var trusted: Bool { if case .unix = self { true } else { false } }

    var bindAddress: BindAddress {
        switch self {
        case .unix(let path): .unixDomainSocket(path: path)
        case .tcp(let host, let port): .hostname(host, port: port)
        }
    }

    var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
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
