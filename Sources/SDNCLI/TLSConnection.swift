internal import COpenSSL
import Foundation
import Glibc

/// `https://` to sdnd: TLS from the system's OpenSSL over a `SocketConnection`. OpenSSL only reads and
/// writes memory buffers here; the socket I/O stays in `SocketConnection`, so TLS gets the same
/// deadlines and never raises SIGPIPE.
///
/// The certificate is checked by `ServerTrust` once the handshake is done, before `init` returns:
/// whoever holds a `TLSConnection` talks to a verified peer.
final class TLSConnection: DaemonConnection {
    let server: ServerAddress
    private let socket: SocketConnection
    private let context: OpaquePointer
    private let session: OpaquePointer
    /// Bytes from the network for OpenSSL to decrypt, and what it wants sent (owned by `session`).
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer

    private static let recordSize = 16 << 10

    init(over socket: SocketConnection, host: String, trust: ServerTrust, deadline: ContinuousClock.Instant?) throws(DaemonClientError) {
        self.socket = socket
        server = socket.server
        let description = socket.server.description
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw .tlsFailed(server: description, reason: "cannot set up TLS: \(Self.openSSLErrors())")
        }
        guard let session = SSL_new(context) else {
            SSL_CTX_free(context)
            throw .tlsFailed(server: description, reason: "cannot set up TLS: \(Self.openSSLErrors())")
        }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(session)
            SSL_CTX_free(context)
            throw .tlsFailed(server: description, reason: "cannot set up TLS: \(Self.openSSLErrors())")
        }
        SSL_set_bio(session, incoming, outgoing)
        self.context = context
        self.session = session
        self.incoming = incoming
        self.outgoing = outgoing

        _ = sdn_ssl_ctx_require_tls12(context)
        // The handshake goes on whatever the chain's verdict (SSL_VERIFY_NONE keeps it for
        // SSL_get_verify_result): `ServerTrust` decides, with the fingerprint in hand for its message.
        SSL_set_verify(session, SSL_VERIFY_NONE, nil)
        if trust.pinned == nil {
            // The system's CAs (SSL_CERT_FILE / SSL_CERT_DIR if set), and the name the server was reached by.
            SSL_CTX_set_default_verify_paths(context)
            if Self.isIPAddress(host) {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session), host)
            } else {
                SSL_set1_host(session, host)
            }
        }
        if !Self.isIPAddress(host) { _ = sdn_ssl_set_server_name(session, host) }

        try handshake(deadline: deadline)
        try verify(trust)
    }

    deinit {
        SSL_free(session)
        SSL_CTX_free(context)
    }

    private func handshake(deadline: ContinuousClock.Instant?) throws(DaemonClientError) {
        while true {
            ERR_clear_error()
            let result = SSL_connect(session)
            let error = SSL_get_error(session, result)
            try flush(deadline: deadline)
            if result == 1 { return }
            switch error {
            case SSL_ERROR_WANT_READ:
                let bytes = try socket.read(upTo: Self.recordSize, deadline: deadline)
                guard !bytes.isEmpty else {
                    throw .tlsFailed(server: server.description, reason: "the server closed the connection during the TLS handshake\(Self.plainHTTPHint)")
                }
                feed(bytes)
            case SSL_ERROR_WANT_WRITE:
                continue
            default:
                throw .tlsFailed(server: server.description, reason: "the TLS handshake failed: \(Self.openSSLErrors())\(Self.plainHTTPHint)")
            }
        }
    }

    private static let plainHTTPHint = " (is sdnd listening there with https://? a plain http:// listener does not speak TLS)"

    private func verify(_ trust: ServerTrust) throws(DaemonClientError) {
        guard let certificate = SSL_get1_peer_certificate(session) else {
            throw .untrustedServer(server: server.description, reason: "it presented no certificate")
        }
        defer { X509_free(certificate) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1, length == 32 else {
            throw .tlsFailed(server: server.description, reason: "cannot compute the certificate's fingerprint: \(Self.openSSLErrors())")
        }
        let verification = SSL_get_verify_result(session)
        let chainProblem = verification == Int(X509_V_OK) ? nil : String(cString: X509_verify_cert_error_string(verification))
        if let refusal = trust.refusal(presented: CertificateFingerprint(bytes: Array(digest[0..<32])), chainProblem: chainProblem,
                                       server: server.description) {
            throw refusal
        }
    }

    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws(DaemonClientError) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let written = bytes.withUnsafeBytes { SSL_write(session, $0.baseAddress! + offset, Int32(clamping: $0.count - offset)) }
            let error = SSL_get_error(session, written)
            try flush(deadline: deadline)
            if written > 0 {
                offset += Int(written)
                continue
            }
            switch error {
            case SSL_ERROR_WANT_READ:
                let received = try socket.read(upTo: Self.recordSize, deadline: deadline)
                guard !received.isEmpty else {
                    throw .brokenResponse(server: server.description, reason: "the connection closed while sending the request")
                }
                feed(received)
            case SSL_ERROR_WANT_WRITE:
                continue
            default:
                throw .brokenResponse(server: server.description, reason: "TLS failed while sending the request: \(Self.openSSLErrors())")
            }
        }
    }

    func read(upTo limit: Int, deadline: ContinuousClock.Instant?) throws(DaemonClientError) -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            ERR_clear_error()
            let count = chunk.withUnsafeMutableBytes { SSL_read(session, $0.baseAddress, Int32(clamping: $0.count)) }
            let error = SSL_get_error(session, count)
            try flush(deadline: deadline)
            if count > 0 { return Array(chunk[0..<Int(count)]) }
            switch error {
            case SSL_ERROR_ZERO_RETURN:
                return []
            case SSL_ERROR_WANT_READ:
                let received = try socket.read(upTo: Self.recordSize, deadline: deadline)
                // Closed without TLS's close_notify: the end of the stream all the same; the HTTP
                // framing (Content-Length, chunks) tells a response cut short.
                if received.isEmpty { return [] }
                feed(received)
            case SSL_ERROR_WANT_WRITE:
                continue
            default:
                throw .brokenResponse(server: server.description, reason: "TLS failed while reading the response: \(Self.openSSLErrors())")
            }
        }
    }

    /// Sends what OpenSSL queued for the network.
    private func flush(deadline: ContinuousClock.Instant?) throws(DaemonClientError) {
        var chunk = [UInt8](repeating: 0, count: Self.recordSize)
        while BIO_ctrl_pending(outgoing) > 0 {
            let count = chunk.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32($0.count)) }
            guard count > 0 else { return }
            try socket.write(Array(chunk[0..<Int(count)]), deadline: deadline)
        }
    }

    private func feed(_ bytes: [UInt8]) {
        // A memory BIO takes everything it is given.
        _ = bytes.withUnsafeBytes { BIO_write(incoming, $0.baseAddress, Int32($0.count)) }
    }

    /// OpenSSL's queued errors as one line (its error queue is per thread).
    private static func openSSLErrors() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [UInt8](repeating: 0, count: 256)
            buffer.withUnsafeMutableBufferPointer { $0.withMemoryRebound(to: CChar.self) { ERR_error_string_n(code, $0.baseAddress, $0.count) } }
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self))
        }
        return reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }
}
