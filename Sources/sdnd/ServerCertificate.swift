import Crypto
import Foundation
import Glibc
import NIOSSL
import SwiftASN1
import X509

/// The TLS identity of the `https://` listeners: a certificate chain, its private key, and the SHA-256
/// fingerprint of the leaf certificate that clients pin (`sdn --fingerprint`), as Incus does.
///
/// Either the files given with `--tls-cert`/`--tls-key`, or `<state-dir>/tls/server.crt` + `server.key`,
/// made self-signed (P-256, ten years) on the first start that needs them and kept across restarts.
struct ServerCertificate {
    let certificatePath: String
    let keyPath: String
    let chain: [NIOSSLCertificate]
    let privateKey: NIOSSLPrivateKey
    /// SHA-256 of the leaf certificate's DER bytes, 64 lowercase hex digits.
    let fingerprint: String
    /// This start made it.
    let created: Bool

    /// Both files read, parsed and checked to belong together; what to do about a problem is in the error.
    static func load(certificatePath: String, keyPath: String, created: Bool = false, fix: String) throws(ServerCertificateError) -> ServerCertificate {
        let certificateBytes = try read(certificatePath, what: "certificate", fix: fix)
        let keyBytes = try read(keyPath, what: "private key", fix: fix)
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes) } catch {
            throw ServerCertificateError(path: certificatePath, "not a PEM certificate (\(error)); \(fix)")
        }
        guard let leaf = chain.first else {
            throw ServerCertificateError(path: certificatePath, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); \(fix)")
        }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem) } catch {
            throw ServerCertificateError(path: keyPath, "not an unencrypted PEM private key (\(error)); \(fix)")
        }
        let leafDER: [UInt8]
        do { leafDER = try leaf.toDERBytes() } catch {
            throw ServerCertificateError(path: certificatePath, "cannot encode its certificate (\(error)); \(fix)")
        }
        // swift-certificates reads the common key kinds; what it cannot read, BoringSSL checks below.
        if let certificate = try? Certificate(derEncoded: leafDER),
           let key = try? Certificate.PrivateKey(pemEncoded: String(decoding: keyBytes, as: UTF8.self)),
           certificate.publicKey != key.publicKey {
            throw ServerCertificateError(path: keyPath, "is not the private key of the certificate in \(certificatePath) (their public keys differ); \(fix)")
        }
        let identity = ServerCertificate(certificatePath: certificatePath, keyPath: keyPath, chain: chain, privateKey: privateKey,
                                         fingerprint: SHA256.hash(data: leafDER).map { String(format: "%02x", $0) }.joined(),
                                         created: created)
        do { _ = try NIOSSLContext(configuration: identity.tlsConfiguration) } catch {
            throw ServerCertificateError(path: certificatePath, "cannot serve TLS with it and \(keyPath) (\(error)); \(fix)")
        }
        return identity
    }

    /// `directory/server.crt` + `server.key`, made self-signed for `names` if neither exists.
    static func loadOrCreate(directory: String, names: SubjectNames) throws(ServerCertificateError) -> ServerCertificate {
        let certificatePath = directory + "/server.crt"
        let keyPath = directory + "/server.key"
        let fix = "remove both \(certificatePath) and \(keyPath) to have sdnd make a new self-signed certificate (clients then pin its new fingerprint), or pass --tls-cert and --tls-key"
        switch (FileManager.default.fileExists(atPath: certificatePath), FileManager.default.fileExists(atPath: keyPath)) {
        case (true, true):
            return try load(certificatePath: certificatePath, keyPath: keyPath, fix: fix)
        case (false, false):
            try create(certificatePath: certificatePath, keyPath: keyPath, directory: directory, names: names)
            return try load(certificatePath: certificatePath, keyPath: keyPath, created: true, fix: fix)
        case (true, false):
            throw ServerCertificateError(path: keyPath, "is missing while \(certificatePath) exists; \(fix)")
        case (false, true):
            throw ServerCertificateError(path: certificatePath, "is missing while \(keyPath) exists; \(fix)")
        }
    }

    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// The names a self-signed certificate is made for: the host's name, localhost and the loopback
    /// addresses, and each listener's specific address.
    struct SubjectNames {
        var hostName: String
        var dnsNames: [String]
        var ipAddresses: [String]

        init(hostName: String, listenHosts: [String]) {
            self.hostName = hostName
            dnsNames = [hostName, "localhost"]
            ipAddresses = ["127.0.0.1", "::1"]
            for host in listenHosts where !["0.0.0.0", "::", ""].contains(host) {
                if ServerCertificate.ipAddressBytes(host) != nil {
                    if !ipAddresses.contains(host) { ipAddresses.append(host) }
                } else if !dnsNames.contains(host) {
                    dnsNames.append(host)
                }
            }
        }
    }

    private static func create(certificatePath: String, keyPath: String, directory: String, names: SubjectNames) throws(ServerCertificateError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ServerCertificateError(path: directory, "cannot create it (\(error))")
        }
        let key = P256.Signing.PrivateKey()
        let certificatePEM: String
        do {
            let alternativeNames = names.dnsNames.map { GeneralName.dnsName($0) }
                + names.ipAddresses.compactMap { ipAddressBytes($0).map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) } }
            let subject = try DistinguishedName {
                OrganizationName("sdn")
                CommonName("sdnd \(names.hostName)")
            }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                // An hour back: a client whose clock is a little behind still accepts it.
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365.25 * 86400),
                issuer: subject, subject: subject,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(alternativeNames)
                },
                issuerPrivateKey: .init(key))
            certificatePEM = try certificate.serializeAsPEM().pemString
        } catch {
            throw ServerCertificateError(path: certificatePath, "cannot make a self-signed certificate (\(error))")
        }
        // The key first, created 0600 whatever the umask; the certificate last, so that a crash in
        // between leaves a key without certificate, which the next start names.
        try write(key.pemRepresentation + "\n", to: keyPath, mode: 0o600)
        try write(certificatePEM + "\n", to: certificatePath, mode: 0o644)
    }

    private static func write(_ text: String, to path: String, mode: mode_t) throws(ServerCertificateError) {
        let temporary = path + ".new"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw ServerCertificateError(path: temporary, "cannot create it (\(String(cString: strerror(errno))))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fchmod(descriptor, mode) == 0 && fsync(descriptor) == 0
        let failure = errno
        close(descriptor)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ServerCertificateError(path: path, "cannot write it (\(String(cString: strerror(failure))))")
        }
    }

    private static func read(_ path: String, what: String, fix: String) throws(ServerCertificateError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ServerCertificateError(path: path, "cannot read the \(what) (\(String(cString: strerror(errno)).lowercased())); \(fix)")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw ServerCertificateError(path: path, "cannot read the \(what) (\(String(cString: strerror(errno)).lowercased())); \(fix)")
            }
            bytes += chunk[0..<count]
            guard bytes.count <= 1 << 20 else { throw ServerCertificateError(path: path, "is larger than 1 MiB: not a PEM \(what); \(fix)") }
        }
    }

    /// The 4 or 16 bytes of an IP address literal, nil for a host name.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// A certificate or key file sdnd cannot use: which file, what is wrong with it, and what to do.
struct ServerCertificateError: Error, CustomStringConvertible {
    let path: String
    let message: String

    init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    var description: String { "\(path): \(message)" }
}
