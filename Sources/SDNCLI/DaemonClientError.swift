import Foundation

/// Why a request to sdnd did not produce a response: the address, the connection, or the HTTP framing.
/// (A response with an error status is a `DaemonResponseError`.)
enum DaemonClientError: Error, Equatable, CustomStringConvertible {
    /// `--server` / `SDN_SERVER` is not an address sdn can use.
    case invalidServer(String, String)
    /// An `https://` server: this build has no TLS.
    case tlsUnsupported(String)
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
        case .tlsUnsupported(let text):
            "cannot use \(text): TLS is not supported by this sdn build yet; use the Unix socket or an SSH tunnel (ssh -L 8080:/run/sdn/sdnd.sock node, then --server http://127.0.0.1:8080)"
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
