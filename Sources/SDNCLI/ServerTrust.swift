import Foundation

/// Which server certificates an `https://` client accepts: the pinned one only, or (none pinned) one
/// that verifies against the system's CAs for the host name it was reached by.
struct ServerTrust: Sendable {
    /// `--fingerprint` / `SDN_SERVER_FINGERPRINT`.
    var pinned: CertificateFingerprint?

    /// Why the certificate a server presented is refused, or nil when it is accepted.
    /// `chainProblem`: OpenSSL's reason the chain did not verify against the system's CAs, nil if it did.
    func refusal(presented: CertificateFingerprint, chainProblem: String?, server: String) -> DaemonClientError? {
        if let pinned {
            guard presented != pinned else { return nil }
            return .untrustedServer(
                server: server,
                reason: "its certificate's SHA-256 fingerprint is \(presented), not the pinned \(pinned) (--fingerprint or SDN_SERVER_FINGERPRINT). "
                    + "If sdnd's certificate was replaced on purpose, pin the new one; otherwise someone may be intercepting the connection")
        }
        guard let chainProblem else { return nil }
        return .untrustedServer(
            server: server,
            reason: "its certificate is not trusted by this system (\(chainProblem)) and no fingerprint is pinned. "
                + "Its SHA-256 fingerprint is \(presented): if that is the one sdnd printed at start (on the node: "
                + "`openssl x509 -noout -fingerprint -sha256 -in /var/lib/sdn/tls/server.crt`), pass --fingerprint \(presented) "
                + "or set SDN_SERVER_FINGERPRINT=\(presented)")
    }
}
