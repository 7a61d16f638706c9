internal import CLibvirt

/// A libvirt call that failed, with libvirt's own message (e.g. "Domain not found: no domain with
/// matching name 'web1'") and its error code and domain, read at once from the thread's last error.
public struct LibvirtError: Error, Sendable, CustomStringConvertible {
    /// What failed, in libvirt's terms where it has one.
    public enum Code: Sendable, Hashable {
        /// The connection could not be opened (no daemon at the URI, no permission on its socket).
        case connectionFailed
        /// No domain with that name or UUID.
        case noDomain
        /// The domain XML was refused (malformed, or against libvirt's schema).
        case invalidXML
        /// The operation does not fit the domain's state (starting a running domain, …).
        case invalidState
        /// Another libvirt error: see ``virtErrorCode``.
        case other
    }

    public var code: Code
    /// The libvirt function that failed, e.g. `virDomainDefineXMLFlags`.
    public var operation: String
    /// libvirt's message.
    public var message: String
    /// libvirt's `virErrorNumber`, for codes ``Code`` does not name.
    public var virtErrorCode: Int32

    public init(code: Code, operation: String, message: String, virtErrorCode: Int32 = 0) {
        self.code = code
        self.operation = operation
        self.message = message
        self.virtErrorCode = virtErrorCode
    }

    public var description: String { "libvirt: \(operation): \(message)" }

    /// The calling thread's last libvirt error (libvirt keeps one per thread), then cleared.
    static func last(_ operation: String) -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(code: .other, operation: operation, message: "failed without an error message")
        }
        let number = error.pointee.code
        let message = error.pointee.message.map { String(cString: $0) } ?? "error \(number)"
        let code: Code = switch virErrorNumber(rawValue: UInt32(number)) {
        case VIR_ERR_NO_DOMAIN: .noDomain
        case VIR_ERR_XML_ERROR, VIR_ERR_XML_DETAIL, VIR_ERR_XML_INVALID_SCHEMA, VIR_ERR_CONFIG_UNSUPPORTED: .invalidXML
        case VIR_ERR_OPERATION_INVALID: .invalidState
        case VIR_ERR_NO_CONNECT, VIR_ERR_SYSTEM_ERROR, VIR_ERR_AUTH_FAILED, VIR_ERR_RPC: .connectionFailed
        default: .other
        }
        virResetLastError()
        return LibvirtError(code: code, operation: operation, message: message, virtErrorCode: number)
    }
}

/// The one place a libvirt call's failure becomes a thrown ``LibvirtError``: a NULL handle.
func withVirt<Handle>(_ operation: String, _ call: () -> Handle?) throws(LibvirtError) -> Handle {
    guard let handle = call() else { throw LibvirtError.last(operation) }
    return handle
}

/// The same for calls that return a negative status on failure; the status otherwise.
@discardableResult
func withVirt(_ operation: String, _ call: () -> Int32) throws(LibvirtError) -> Int32 {
    let status = call()
    guard status >= 0 else { throw LibvirtError.last(operation) }
    return status
}
