import Foundation

/// The SHA-256 of a certificate's DER bytes, as sdnd prints it at start (64 lowercase hex digits, the
/// form Incus uses). Typed in also as `openssl x509 -fingerprint -sha256` prints it (upper case, colons).
struct CertificateFingerprint: Hashable, Sendable, CustomStringConvertible {
    /// 32 bytes.
    let bytes: [UInt8]

    init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 fingerprint has 32 bytes")
        self.bytes = bytes
    }

    init(parsing text: String) throws(DaemonClientError) {
        var digits = text.trimmingCharacters(in: .whitespaces).lowercased()
        for prefix in ["sha256 fingerprint=", "sha256:"] where digits.hasPrefix(prefix) { digits.removeFirst(prefix.count) }
        digits.removeAll { $0 == ":" || $0 == " " }
        let hex = Array(digits.utf8)
        guard hex.count == 64 else {
            throw .invalidFingerprint(text, "a SHA-256 fingerprint is 64 hex digits (colons allowed), as sdnd prints it at start; this has \(hex.count)")
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16) else {
                throw .invalidFingerprint(text, "'\(String(decoding: hex[index..<index + 2], as: UTF8.self))' is not hex; a SHA-256 fingerprint is 64 hex digits")
            }
            bytes.append(byte)
        }
        self.init(bytes: bytes)
    }

    var description: String { bytes.map { String(format: "%02x", $0) }.joined() }
}
