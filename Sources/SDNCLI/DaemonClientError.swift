import Foundation

/// Why a request to sdnd did not produce a response: the address, the connection, or the HTTP framing.
/// (A response with an error status is a `DaemonResponseError`.)
enum DaemonClientError: Error, Equatable, CustomStringConvertible {
    /// `--server` / `SDN_SERVER` is not an address sdn can use.
    case invalidServer(String, String)
    /// `--fingerprint` / `SDN_SERVER_FINGERPRINT` is not a SHA-256 fingerprint, or not for an https:// server.
    case invalidFingerprint(String, String)
    /// The TLS handshake with an `https://` server failed.
    case tlsFailed(server: String, reason: String)
    /// The `https://` server's certificate is neither the pinned one nor (none pinned) trusted by the
    /// system's CAs for that host: nothing was sent to it.
    case untrustedServer(server: String, reason: String)
    /// Nothing answers there: the socket is missing, the connection was refused, the host is unknown.
    /// `daemonMayBeDown`: the socket is missing or refuses, so the hint on starting sdnd applies.
    case unreachable(server: String, reason: String, daemonMayBeDown: Bool)
    /// The daemon took longer than the client waits.
    case timedOut(server: String, waitingFor: String)
    /// The connection broke, or what came back is not HTTP/1.1 the client understands.
    case brokenResponse(server: String, reason: String)

    var description: String {
        switch self {
        case .invalidServer(let text, let reason):
            "invalid server address '\(text)': \(reason)"
        case .invalidFingerprint(let text, let reason):
            "invalid fingerprint '\(text)': \(reason)"
        case .tlsFailed(let server, let reason):
            "cannot reach sdnd at \(server): \(reason)"
        case .untrustedServer(let server, let reason):
            "refused to talk to \(server), nothing was sent: \(reason)"
        case .unreachable(let server, let reason, let daemonMayBeDown):
            "cannot reach sdnd at \(server): \(reason)"
                + (daemonMayBeDown ? " (is sdnd running? start it with `sdnd --state-dir …` or `systemctl start sdnd`)" : "")
        case .timedOut(let server, let waitingFor):
            "sdnd at \(server) did not answer in time (waiting for \(waitingFor))"
        case .brokenResponse(let server, let reason):
            "bad response from sdnd at \(server): \(reason)"
        }
    }
}
