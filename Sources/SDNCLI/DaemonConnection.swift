import Foundation

/// A connection to sdnd that carries one HTTP/1.1 exchange: a plain socket (`unix://`, `http://`) or
/// TLS over one (`https://`). Every wait is bounded by a deadline (none: as long as it takes).
protocol DaemonConnection: AnyObject {
    var server: ServerAddress { get }

    /// Sends every byte.
    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws(DaemonClientError)

    /// The next bytes the peer sent, at most `limit`; empty at the end of the stream.
    func read(upTo limit: Int, deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> [UInt8]
}

extension SocketConnection: DaemonConnection {}

enum DaemonConnector {
    /// Connects, and for `https://` completes the TLS handshake and checks the certificate against
    /// `trust` before returning: nothing (no token) is written to a peer that is not verified.
    static func open(_ server: ServerAddress, trust: ServerTrust, deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> any DaemonConnection {
        let socket = try SocketConnection.connect(to: server, deadline: deadline)
        guard case .https(let host, _) = server.endpoint else { return socket }
        return try TLSConnection(over: socket, host: host, trust: trust, deadline: deadline)
    }
}
