import ArgumentParser
import Foundation
import SDNConfig
import SDNModel

/// One command's conversation with sdnd: each failure becomes one clear line on standard error and an
/// exit status (1 failed or refused, 2 bad input or arguments), each success a decoded response.
struct DaemonSession {
    let client: DaemonClient
    let output: OutputFormat

    /// `fingerprint`: the pinned certificate of an https:// server; `explicit` when given on the
    /// command line, where it is an error for any other server.
    init(url: String, token: String?, fingerprint: (text: String, explicit: Bool)? = nil, output: OutputFormat) throws {
        do {
            let server = try ServerAddress(parsing: url)
            var trust = ServerTrust()
            if let fingerprint, server.usesTLS || fingerprint.explicit {
                guard server.usesTLS else {
                    throw DaemonClientError.invalidFingerprint(fingerprint.text, "--fingerprint pins the certificate of an https:// server, and \(server) is not one")
                }
                trust.pinned = try CertificateFingerprint(parsing: fingerprint.text)
            }
            client = DaemonClient(server: server, token: token, trust: trust)
        } catch {
            printError("sdn: \(error)")
            throw ExitCode.badInput
        }
        self.output = output
    }

    var server: String { client.server.description }

    /// Sends a request and returns the response if its status is 2xx; otherwise says why and exits.
    /// `sources` are the documents pushed, for source lines under the diagnostics of a 422.
    @discardableResult
    func call(_ method: String, _ target: String, body: Data? = nil, headers: [(String, String)] = [],
              timeout: Duration? = nil, sources: [ConfigDocument] = []) throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try client.send(method, target, body: body, headers: headers, timeout: timeout)
        } catch {
            printError("sdn: \(error)")
            throw ExitCode.failed
        }
        guard (200..<300).contains(response.status) else { throw refusal(response, sources: sources) }
        return response
    }

    /// Sends a request and returns the response whatever its status (transport failures still exit).
    func send(_ method: String, _ target: String, body: Data? = nil, headers: [(String, String)] = []) throws -> HTTPResponse {
        do {
            return try client.send(method, target, body: body, headers: headers, timeout: nil)
        } catch {
            printError("sdn: \(error)")
            throw ExitCode.failed
        }
    }

    @discardableResult
    func call(_ method: String, _ target: String, json: some Encodable, headers: [(String, String)] = [],
              timeout: Duration? = nil, sources: [ConfigDocument] = []) throws -> HTTPResponse {
        let body: Data
        do {
            body = try ClientJSON.encoder.encode(json)
        } catch {
            printError("sdn: cannot encode the request: \(error)")
            throw ExitCode.failed
        }
        return try call(method, target, body: body, headers: headers, timeout: timeout, sources: sources)
    }

    /// The response's JSON as `T`; a body this sdn cannot read is a failure that names the daemon.
    func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponse) throws -> T {
        do {
            return try ClientJSON.decoder.decode(T.self, from: response.body)
        } catch {
            printError("sdn: sdnd at \(server) answered something this sdn cannot read (\(Self.describe(error))); are sdn and sdnd the same version?")
            throw ExitCode.failed
        }
    }

    /// `--output json`: the response as the daemon sent it, pretty-printed (`{}` for a response
    /// without a body, so that standard output is always JSON).
    func printJSON(_ response: HTTPResponse) {
        print(response.body.isEmpty ? "{}" : ClientJSON.pretty(response.body))
    }

    /// Prints why the daemon said no (and, with `--output json`, its error body on standard output)
    /// and returns the exit status to throw.
    func refusal(_ response: HTTPResponse, sources: [ConfigDocument] = []) -> ExitCode {
        if output == .json && !response.body.isEmpty { printJSON(response) }
        if response.status == 422, let body = try? ClientJSON.decoder.decode(DiagnosticsBody.self, from: response.body) {
            if output == .text { print(Self.renderDiagnostics(body.diagnostics, sources: sources), terminator: "") }
            let errors = body.diagnostics.filter { $0.severity == "error" }.count
            printError("sdn: sdnd refused the configuration: \(errors) error\(errors == 1 ? "" : "s") (nothing was changed)")
            return .badInput
        }
        let (message, exitCode) = Self.explain(response, server: server)
        printError("sdn: " + message)
        return exitCode
    }

    /// The line to print for an error status, and its exit status.
    static func explain(_ response: HTTPResponse, server: String) -> (String, ExitCode) {
        var detail: String
        var code: String?
        if let body = try? ClientJSON.decoder.decode(APIErrorBody.self, from: response.body) {
            detail = body.error.message
            code = body.error.code
            if let field = body.error.field { detail += " (field \(field))" }
        } else {
            let text = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            detail = text.isEmpty ? response.head.reason : text
        }
        let status = "HTTP \(response.status)"
        switch response.status {
        case 400:
            return ("sdnd refused the request as malformed: \(detail) (\(status))", .badInput)
        case 401:
            return ("sdnd at \(server) refused the request: not authenticated: \(detail) (\(status)); pass a token with --token or SDN_TOKEN (an Administrator makes one with `sdn token create`)", .failed)
        case 403:
            return ("sdnd at \(server) refused the request: \(detail) (\(status)); the token's role or path does not allow it (ask an Administrator for a token that does)", .failed)
        case 404:
            return ("sdnd: \(detail) (\(status))", .failed)
        case 409, 428:
            // The message says why (no revision yet, a revision this node cannot run, an id in use, …).
            return ("sdnd refused the change: \(detail) (\(status))", .failed)
        case 412:
            return ("sdnd refused the change: \(detail) (\(status)); it changed since you read it: read it again (`sdn pull`, `sdn rule list`, `sdn object get`), redo your change and retry", .failed)
        case 413:
            return ("sdnd refused the request as too large: \(detail) (\(status))", .badInput)
        case 422:
            return ("sdnd refused the request: \(detail) (\(status))", .badInput)
        case 503:
            return ("sdnd at \(server) cannot use its store: \(detail) (\(status))", .failed)
        case 500...:
            return ("sdnd at \(server) failed: \(detail) (\(status))", .failed)
        default:
            return ("sdnd refused the request: \(detail) (\(status))", .failed)
        }
    }

    /// Diagnostics as `sdn validate` prints them: location, message, code, source line with a caret, then a verdict.
    static func renderDiagnostics(_ remote: [RemoteDiagnostic], sources: [ConfigDocument]) -> String {
        let printer = DiagnosticPrinter(style: Style(enabled: ColorMode.auto.isEnabled), documents: sources)
        var output = ""
        for item in remote {
            let severity = Diagnostic.Severity(rawValue: item.severity) ?? .error
            var location: SourceLocation?
            if let file = item.file, let line = item.line { location = SourceLocation(file: file, line: line, column: item.column ?? 1) }
            let diagnostic = Diagnostic(severity, code: DiagnosticCode(item.code), item.message, at: location, path: item.path ?? "", hint: item.hint)
            output += printer.render(diagnostic) + "\n\n"
        }
        let errors = remote.filter { $0.severity == "error" }.count
        let warnings = remote.filter { $0.severity == "warning" }.count
        // An object write sends no files: its diagnostics point into the object (path), not into a file.
        let files = sources.isEmpty ? "" : "\(sources.count) file\(sources.count == 1 ? "" : "s"); "
        output += "invalid: \(files)\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n"
        return output
    }

    private static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .keyNotFound(let key, let context): return "no '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "the top" : context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
    }
}

/// URL pieces: one path component (a policy id like `guest:101`, a rule id) and query values.
enum APIPath {
    private static let componentCharacters = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#%;"))

    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: componentCharacters) ?? text
    }

    /// `path?name=value&…` for the values that are set.
    static func query(_ path: String, _ items: [(String, String?)]) -> String {
        let set = items.compactMap { name, value in value.map { "\(name)=\(component($0))" } }
        return set.isEmpty ? path : path + "?" + set.joined(separator: "&")
    }
}
