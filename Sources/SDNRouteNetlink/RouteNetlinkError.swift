import Glibc

/// A failed netlink exchange with the kernel (or a reply this module cannot read).
///
/// `observe()` throws it; `perform(_:)` turns it into a `LinkOperationError` naming the operation.
public struct RouteNetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was attempted, in words close to the equivalent `ip`/`bridge` command (`create link vnet1`).
    public var operation: String
    /// The errno the kernel reported (or of the failed system call); nil for our own findings.
    public var errno: Int32?
    /// `strerror(errno)`, followed by the kernel's extended-ack text when it sent one, or our explanation.
    public var message: String

    public init(operation: String, errno: Int32? = nil, message: String) {
        self.operation = operation
        self.errno = errno
        self.message = message
    }

    /// An error for `errno`, with the kernel's extended-ack `text` (may be empty) and an optional hint.
    init(operation: String, errno: Int32, kernelText: String = "", hint: String? = nil) {
        var message = String(cString: strerror(errno))
        if !kernelText.isEmpty { message += ": \(kernelText)" }
        if let hint { message += " (\(hint))" }
        self.init(operation: operation, errno: errno, message: message)
    }

    public var description: String {
        var text = "\(operation): \(message)"
        if let errno { text += " (errno \(errno))" }
        return text
    }
}
