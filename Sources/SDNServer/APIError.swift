public import HTTPTypes

/// A refused request: the status, a machine-readable code, and a message that says what to fix. The
/// body is `{"error": {"code", "message", "field"?}}` (the spec's `Error`).
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// The request field or parameter at fault.
    public var field: String?
    /// Extra top-level members of the body (the diagnostics of a refused configuration).
    var diagnostics: [DiagnosticJSON]?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func badRequest(_ message: String, field: String? = nil) -> APIError { APIError(.badRequest, code: "bad-request", message, field: field) }
    static func notFound(_ message: String, field: String? = nil) -> APIError { APIError(.notFound, code: "not-found", message, field: field) }
    static func conflict(_ message: String) -> APIError { APIError(.conflict, code: "conflict", message) }
    static func stale(_ message: String) -> APIError { APIError(.preconditionFailed, code: "precondition-failed", message, field: "If-Match") }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, code: "forbidden", message) }

    /// The audit log's word for this outcome.
    var auditOutcome: String { Self.auditOutcome(status) }

    static func auditOutcome(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 200..<300: "ok"
        case 401: "unauthenticated"
        case 403: "denied"
        case 404: "not-found"
        case 409, 412: "conflict"
        case 413: "too-large"
        case 400, 422, 428: "invalid"
        default: "failed"
        }
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
        var diagnostics: [DiagnosticJSON]?
    }

    var body: Body { Body(error: .init(code: code, message: message, field: field), diagnostics: diagnostics) }
}
