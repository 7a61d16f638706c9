import Foundation

/// Where sdnd listens, as `--server` / `SDN_SERVER` name it: `unix:///run/sdn/sdnd.sock` (or a bare
/// absolute socket path), `https://host:port` (TLS; port 8443 unless given, as sdnd's and Incus's) or
/// `http://host:port`.
struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    enum Endpoint: Hashable, Sendable {
        case unix(path: String)
        case tcp(host: String, port: UInt16)
        case https(host: String, port: UInt16)
    }

    /// The node's own daemon, trusted by the socket's file permissions.
    static let defaultURL = "unix:///run/sdn/sdnd.sock"

    var endpoint: Endpoint

    /// The address as the user can type it again.
    var description: String {
        switch endpoint {
        case .unix(let path): "unix://" + path
        case .tcp(let host, let port): "http://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case .https(let host, let port): "https://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        }
    }

    var usesTLS: Bool { if case .https = endpoint { true } else { false } }

    /// The `Host:` header: a Unix socket has no host name, HTTP/1.1 still wants one.
    var hostHeader: String {
        switch endpoint {
        case .unix: "localhost"
        case .tcp(let host, let port), .https(let host, let port): (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        }
    }

    init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }

    init(parsing text: String) throws(DaemonClientError) {
        let forms = "use unix:///path/to/sdnd.sock, https://host:port or http://host:port"
        if text.hasPrefix("/") {
            self.init(endpoint: .unix(path: text))
            return
        }
        guard let schemeEnd = text.range(of: "://") else {
            throw .invalidServer(text, "not a URL; \(forms)")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = String(text[schemeEnd.upperBound...])
        switch scheme {
        case "unix":
            guard rest.hasPrefix("/") else {
                throw .invalidServer(text, "a Unix socket URL names an absolute path after unix:// (unix:///run/sdn/sdnd.sock)")
            }
            self.init(endpoint: .unix(path: rest))
        case "http", "https":
            var authority = rest
            if authority.hasSuffix("/") { authority.removeLast() }
            guard !authority.isEmpty, !authority.contains("/"), !authority.contains("?"), !authority.contains("@") else {
                throw .invalidServer(text, "an \(scheme):// server is host:port with no path, user or query (\(scheme)://10.0.0.5:8443)")
            }
            let host: String
            var portText: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { throw .invalidServer(text, "an IPv6 address in brackets misses its ']'") }
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw .invalidServer(text, "expected :port after the IPv6 address") }
                    portText = after.dropFirst()
                }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.isEmpty else { throw .invalidServer(text, "no host name; \(forms)") }
            var port: UInt16 = scheme == "https" ? 8443 : 80
            if let portText {
                guard let number = UInt16(portText), number > 0 else {
                    throw .invalidServer(text, "port '\(portText)' is not a number from 1 to 65535")
                }
                port = number
            }
            self.init(endpoint: scheme == "https" ? .https(host: host, port: port) : .tcp(host: host, port: port))
        default:
            throw .invalidServer(text, "unknown scheme '\(scheme)'; \(forms)")
        }
    }
}
