import Foundation
import Glibc
import SDNNetns
import SDNStore
import SDNTesting
import Testing

/// The real `sdnd` with an `https://` listener and the real `sdn` as its client, both in a network
/// namespace of the test's own (its loopback is private: port 8443 is free, no other process sees it).
@Suite(.serialized, .systemTest(tools: ["ip"]))
final class DaemonTLSEndToEndTests {
    let namespaceName = "sdntest-\(getpid())-tls\(UInt32.random(in: 0..<1_000_000))"
    let namespace: NetworkNamespace
    let directory: String
    var daemon: BackgroundProcess?

    let url = "https://127.0.0.1:8443"
    var socketPath: String { directory + "/sdnd.sock" }
    var stateDirectory: String { directory + "/state" }
    var logPath: String { directory + "/sdnd.log" }

    init() throws {
        namespace = try NetworkNamespace.create(named: namespaceName)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sdnd-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Shell.output(["ip", "-n", namespaceName, "link", "set", "lo", "up"])
    }

    deinit {
        daemon?.signal(SIGKILL)
        _ = daemon?.wait(timeout: .seconds(5))
        _ = try? namespace.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: helpers

    /// Starts sdnd in the namespace with a Unix socket and `listen`; waits until it serves.
    func startDaemon(listen: [String]? = nil, extra: [String] = []) throws {
        let sdnd = try #require(DaemonEndToEndTests.product("sdnd"), "sdnd was not built next to the tests (run `swift build --build-tests`)")
        let listeners = (["unix://" + socketPath] + (listen ?? [url])).flatMap { ["--listen", $0] }
        daemon = try BackgroundProcess(executable: try #require(ExecutableLookup.find("ip")),
                                       arguments: ["netns", "exec", namespaceName, sdnd, "--state-dir", stateDirectory, "--netns", namespaceName]
                                           + listeners + extra,
                                       logPath: logPath)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let daemon, !daemon.isRunning { Issue.record("sdnd exited: \(daemon.log)"); return }
            if FileManager.default.fileExists(atPath: socketPath), let status = (try? sdn("status", server: "unix://" + socketPath))?.status,
               status == 0 || status == 3 { return }
            usleep(50_000)
        }
        Issue.record("sdnd did not answer within 30 s: \(daemon?.log ?? "")")
    }

    /// Runs sdnd expecting it to refuse to start; its exit status and output.
    func failedStart(_ arguments: [String]) throws -> (status: Int32?, log: String) {
        let sdnd = try #require(DaemonEndToEndTests.product("sdnd"))
        let attempt = try BackgroundProcess(executable: try #require(ExecutableLookup.find("ip")),
                                            arguments: ["netns", "exec", namespaceName, sdnd, "--state-dir", stateDirectory, "--netns", namespaceName,
                                                        "--listen", "unix://" + socketPath] + arguments,
                                            logPath: directory + "/failed-\(UUID().uuidString.prefix(6)).log")
        let status = attempt.wait(timeout: .seconds(30))
        if status == nil { attempt.signal(SIGKILL) }
        return (status, attempt.log)
    }

    func stopDaemon() throws -> Int32? {
        daemon?.signal(SIGTERM)
        let status = daemon?.wait(timeout: .seconds(30))
        daemon = nil
        return status
    }

    /// `sdn` in the namespace, against `server`, with `environment` (e.g. SSL_CERT_FILE) set.
    @discardableResult
    func sdn(_ arguments: String..., server: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(DaemonEndToEndTests.product("sdn"), "sdn was not built next to the tests")
        let variables = ["SDN_SERVER=\(server ?? url)"] + environment.map { "\($0.key)=\($0.value)" }.sorted()
        return try Shell.run(["env", "-u", "SDN_TOKEN", "-u", "SDN_SERVER_FINGERPRINT", "-u", "SSL_CERT_FILE", "-u", "SSL_CERT_DIR"]
                                + variables + [binary] + arguments,
                             in: namespace)
    }

    /// The fingerprint sdnd printed on standard output at its last start.
    func printedFingerprints() -> [String] {
        let prefix = "TLS certificate fingerprint (SHA-256): "
        return (daemon?.log ?? (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// A token made over the Unix socket (trusted), its secret.
    func makeToken(role: String = "Auditor") throws -> String {
        let created = try sdn("token", "create", "--role", role, "--output", "json", server: "unix://" + socketPath)
        try #require(created.status == 0, "\(created.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any]
        return try #require(json?["secret"] as? String)
    }

    /// `openssl x509 -fingerprint -sha256` of a PEM file, as 64 lowercase hex digits: a second opinion.
    static func opensslFingerprint(_ path: String) throws -> String {
        let output = try Shell.output(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path])
        return String(output.split(separator: "=").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: ":", with: "").lowercased()
    }

    func unauthenticatedAuditEntries() async throws -> Int {
        let store = try SQLiteStateStore(path: stateDirectory + "/sdn.sqlite")
        return try await store.audit(after: 0, limit: 1000).filter { $0.outcome == "unauthenticated" }.count
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    // MARK: tests

    @Test func aSelfSignedCertificateIsMadeOnFirstStartPrintedPinnedAndKept() throws {
        try startDaemon()
        let certificate = stateDirectory + "/tls/server.crt"
        let key = stateDirectory + "/tls/server.key"
        #expect(FileManager.default.fileExists(atPath: certificate))
        #expect(try mode(key) == 0o600, "the private key must be for its owner only")
        #expect(try mode(stateDirectory + "/tls") == 0o700)
        let printed = printedFingerprints()
        #expect(printed.count == 1, "\(daemon?.log ?? "")")
        let fingerprint = try #require(printed.first)
        #expect(fingerprint.count == 64 && fingerprint.allSatisfy(\.isHexDigit), "\(fingerprint)")
        if ExecutableLookup.find("openssl") != nil {
            #expect(try Self.opensslFingerprint(certificate) == fingerprint)
            let text = try Shell.output(["openssl", "x509", "-noout", "-text", "-in", certificate])
            #expect(text.contains("DNS:localhost") && text.contains("IP Address:127.0.0.1") && text.contains("IP Address:0:0:0:0:0:0:0:1"), "\(text)")
        }

        let token = try makeToken()
        let status = try sdn("status", "--fingerprint", fingerprint, "--token", token)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("head -, target -"), "\(status.stdout)")
        // The form `openssl x509 -fingerprint -sha256` prints, from the environment.
        let colons = stride(from: 0, to: 64, by: 2).map { index in
            String(fingerprint[fingerprint.index(fingerprint.startIndex, offsetBy: index)...].prefix(2)).uppercased()
        }.joined(separator: ":")
        let fromEnvironment = try sdn("status", "--token", token, environment: ["SDN_SERVER_FINGERPRINT": "sha256 Fingerprint=" + colons])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")

        // A restart serves the same certificate: pinned clients keep working.
        let before = try Data(contentsOf: URL(fileURLWithPath: certificate))
        #expect(try stopDaemon() == 0)
        try startDaemon()
        // (One log for both starts.)
        let log = daemon?.log ?? ""
        #expect(printedFingerprints() == [fingerprint, fingerprint], "\(log)")
        #expect(log.components(separatedBy: "made a self-signed TLS certificate").count == 2, "made once, at the first start: \(log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: certificate)) == before)
        #expect(try sdn("status", "--fingerprint", fingerprint, "--token", token).status == 0)
    }

    @Test func aWrongOrMissingFingerprintIsRefusedBeforeTheTokenIsSent() async throws {
        try startDaemon()
        let fingerprint = try #require(printedFingerprints().first, "\(daemon?.log ?? "")")
        // Not a valid token: if the client sent it, sdnd would answer 401 and audit the refusal.
        let bogus = "sdn_not-a-real-token-but-a-canary"
        let wrong = (fingerprint.first == "0" ? "1" : "0") + fingerprint.dropFirst()

        let mismatch = try sdn("status", "--fingerprint", wrong, "--token", bogus)
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("refused to talk to \(url), nothing was sent"), "\(mismatch.stderr)")
        #expect(mismatch.stderr.contains("fingerprint is \(fingerprint), not the pinned \(wrong)"), "\(mismatch.stderr)")

        let unpinned = try sdn("status", "--token", bogus)
        #expect(unpinned.status == 1)
        #expect(unpinned.stderr.contains("not trusted by this system (self-signed certificate) and no fingerprint is pinned"), "\(unpinned.stderr)")
        #expect(unpinned.stderr.contains("pass --fingerprint \(fingerprint) or set SDN_SERVER_FINGERPRINT=\(fingerprint)"), "\(unpinned.stderr)")
        #expect(try await unauthenticatedAuditEntries() == 0, "a refused server received the token")

        // The control: with the right fingerprint the canary reaches sdnd, which refuses and audits it.
        let pinned = try sdn("status", "--fingerprint", fingerprint, "--token", bogus)
        #expect(pinned.status == 1)
        #expect(pinned.stderr.contains("HTTP 401"), "\(pinned.stderr)")
        #expect(try await unauthenticatedAuditEntries() == 1)

        // Plain HTTP to the TLS port, and TLS to a plain port: one clear line each.
        let clear = try sdn("status", "--token", bogus, server: "http://127.0.0.1:8443")
        #expect(clear.status == 1)
        #expect(clear.stderr.contains("if sdnd listens there with https://, use https://"), "\(clear.stderr)")
    }

    @Test func tlsToAPlainListenerFailsWithAHint() throws {
        try startDaemon(listen: ["http://127.0.0.1:8080"])
        let result = try sdn("status", "--fingerprint", String(repeating: "ab", count: 32), server: "https://127.0.0.1:8080")
        #expect(result.status == 1)
        #expect(result.stderr.contains("the TLS handshake failed"), "\(result.stderr)")
        #expect(result.stderr.contains("a plain http:// listener does not speak TLS"), "\(result.stderr)")
    }

    @Test(.systemTest(tools: ["ip", "openssl"]))
    func givenCertificateFilesAreServedAndVerifiedAgainstTheSystemCAs() throws {
        // A CA of the test's own, and a certificate for `localhost` only (no IP address) signed by it.
        let ca = directory + "/ca"
        try FileManager.default.createDirectory(atPath: ca, withIntermediateDirectories: true)
        try Shell.output(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", ca + "/ca.key", "-out", ca + "/ca.crt", "-days", "2", "-subj", "/CN=sdn test CA"])
        try Shell.output(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", ca + "/server.key", "-out", ca + "/server.csr", "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: ca + "/ext.cnf", atomically: true, encoding: .utf8)
        try Shell.output(["openssl", "x509", "-req", "-in", ca + "/server.csr", "-CA", ca + "/ca.crt", "-CAkey", ca + "/ca.key", "-set_serial", "7",
                          "-days", "2", "-extfile", ca + "/ext.cnf", "-out", ca + "/server.crt"])

        try startDaemon(extra: ["--tls-cert", ca + "/server.crt", "--tls-key", ca + "/server.key"])
        #expect(printedFingerprints() == [try Self.opensslFingerprint(ca + "/server.crt")], "\(daemon?.log ?? "")")
        #expect(!FileManager.default.fileExists(atPath: stateDirectory + "/tls"), "given files: no self-signed certificate is made")
        let token = try makeToken()

        // No fingerprint: the chain verifies against the CAs (here SSL_CERT_FILE's) for the name used.
        let trusted = try sdn("status", "--token", token, server: "https://localhost:8443", environment: ["SSL_CERT_FILE": ca + "/ca.crt"])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        let wrongName = try sdn("status", "--token", token, environment: ["SSL_CERT_FILE": ca + "/ca.crt"])
        #expect(wrongName.status == 1)
        #expect(wrongName.stderr.contains("not trusted by this system (IP address mismatch)"), "\(wrongName.stderr)")
        let unknownCA = try sdn("status", "--token", token, server: "https://localhost:8443")
        #expect(unknownCA.status == 1)
        #expect(unknownCA.stderr.contains("not trusted by this system (unable to get local issuer certificate)"), "\(unknownCA.stderr)")
    }

    @Test(.systemTest(tools: ["ip", "openssl"]))
    func unusableCertificateFilesStopItNamingTheFile() throws {
        let files = directory + "/files"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        try Shell.output(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", files + "/good.key", "-out", files + "/good.crt", "-days", "2", "-subj", "/CN=sdnd"])
        try Shell.output(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", files + "/other.key"])
        try "this is not a certificate\n".write(toFile: files + "/garbage.crt", atomically: true, encoding: .utf8)

        let cases: [(arguments: [String], message: String)] = [
            (["--tls-cert", files + "/missing.crt", "--tls-key", files + "/good.key"],
             "\(files)/missing.crt: cannot read the certificate (no such file or directory)"),
            // A directory: unreadable as a file even for root.
            (["--tls-cert", files, "--tls-key", files + "/good.key"], "\(files): cannot read the certificate (is a directory)"),
            (["--tls-cert", files + "/garbage.crt", "--tls-key", files + "/good.key"], "\(files)/garbage.crt: "),
            (["--tls-cert", files + "/good.crt", "--tls-key", files + "/garbage.crt"], "\(files)/garbage.crt: not an unencrypted PEM private key"),
            (["--tls-cert", files + "/good.crt", "--tls-key", files + "/other.key"],
             "\(files)/other.key: is not the private key of the certificate in \(files)/good.crt"),
        ]
        for (arguments, message) in cases {
            let (status, log) = try failedStart(["--listen", url] + arguments)
            #expect(status == 1, "\(arguments): \(log)")
            #expect(log.contains("cannot serve https: " + message), "\(arguments): \(log)")
            #expect(log.contains("--tls-cert") && log.contains("--tls-key"), "the error says what to pass: \(log)")
            #expect(!FileManager.default.fileExists(atPath: stateDirectory + "/sdn.sqlite"), "a refused start opened the store")
        }

        // The state directory's own files: a certificate without its key, then a corrupt certificate.
        try FileManager.default.createDirectory(atPath: stateDirectory + "/tls", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: files + "/good.crt", toPath: stateDirectory + "/tls/server.crt")
        let keyless = try failedStart(["--listen", url])
        #expect(keyless.status == 1)
        #expect(keyless.log.contains("\(stateDirectory)/tls/server.key: is missing while \(stateDirectory)/tls/server.crt exists; remove both"), "\(keyless.log)")
        try FileManager.default.copyItem(atPath: files + "/good.key", toPath: stateDirectory + "/tls/server.key")
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(toFile: stateDirectory + "/tls/server.crt", atomically: true, encoding: .utf8)
        let corrupt = try failedStart(["--listen", url])
        #expect(corrupt.status == 1)
        #expect(corrupt.log.contains("\(stateDirectory)/tls/server.crt: "), "\(corrupt.log)")
        #expect(corrupt.log.contains("to have sdnd make a new self-signed certificate"), "\(corrupt.log)")
    }
}

/// `--listen` and the TLS options are checked before sdnd touches anything (no root needed).
@Suite struct DaemonListenArgumentTests {
    func sdnd(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(DaemonEndToEndTests.product("sdnd"), "sdnd was not built next to the tests")
        return try Shell.run([binary, "--state-dir", "/nonexistent/sdn-state"] + arguments)
    }

    @Test func plainHTTPIsRefusedOffLoopback() throws {
        for address in ["http://0.0.0.0:8080", "http://10.1.2.3:8080", "http://[::]:8080"] {
            let result = try sdnd("--listen", address)
            #expect(result.status == 64, "\(address): \(result)")
            #expect(result.stderr.contains("plain HTTP is allowed on loopback only"), "\(result.stderr)")
            #expect(result.stderr.contains("listen with TLS instead: https://"), "\(result.stderr)")
        }
    }

    @Test func tlsOptionsMustFitTheListeners() throws {
        let alone = try sdnd("--listen", "https://0.0.0.0:8443", "--tls-cert", "/x.crt")
        #expect(alone.status == 64)
        #expect(alone.stderr.contains("--tls-cert and --tls-key go together"), "\(alone.stderr)")
        let noTLSListener = try sdnd("--listen", "unix:///tmp/x.sock", "--tls-cert", "/x.crt", "--tls-key", "/x.key")
        #expect(noTLSListener.status == 64)
        #expect(noTLSListener.stderr.contains("--tls-cert is for https:// listeners, and there is none"), "\(noTLSListener.stderr)")
        let withPath = try sdnd("--listen", "https://0.0.0.0:8443/api")
        #expect(withPath.status == 64)
        #expect(withPath.stderr.contains("write https://ADDRESS:PORT with no path"), "\(withPath.stderr)")
    }
}
