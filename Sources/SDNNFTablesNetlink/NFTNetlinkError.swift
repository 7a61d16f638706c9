import Glibc

/// A failure of the netlink firewall adapter itself: an IR form the encoder cannot express, a netlink
/// conversation that broke, or a kernel answer that could not be understood.
///
/// `apply` reports these as ``FirewallApplyError``; `observe` throws them as they are.
public struct NFTNetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The IR holds a form this encoder cannot express (named in `message`); nothing was sent.
        case unsupported
        /// The kernel answered a request with an error (`errno`).
        case kernel
        /// A socket call failed or the conversation ended unexpectedly.
        case transport
        /// The kernel sent something we could not parse.
        case malformed
    }

    public var code: Code
    /// What was being done, e.g. `sendmsg`, `dump rules inet sdn`, `encode rule r1`.
    public var operation: String
    public var message: String
    public var errno: Int32?

    public init(code: Code, operation: String, message: String, errno: Int32? = nil) {
        self.code = code
        self.operation = operation
        self.message = message
        self.errno = errno
    }

    static func unsupported(_ message: String) -> NFTNetlinkError {
        NFTNetlinkError(code: .unsupported, operation: "encode", message: message)
    }

    static func malformed(_ operation: String, _ message: String) -> NFTNetlinkError {
        NFTNetlinkError(code: .malformed, operation: operation, message: message)
    }

    public var description: String {
        var text = "\(operation): \(message)"
        if let errno { text += " (errno \(errno))" }
        return text
    }
}

/// The one place that turns a failed libmnl / libnftnl / socket call (a negative result plus `errno`)
/// into an ``NFTNetlinkError``; `errno` is read before anything else can overwrite it.
@discardableResult
func withErrno<Result: BinaryInteger>(
    _ operation: @autoclosure () -> String,
    code: NFTNetlinkError.Code = .transport,
    _ call: () -> Result
) throws(NFTNetlinkError) -> Result {
    let result = call()
    if result < 0 {
        let number = Glibc.errno
        throw NFTNetlinkError(code: code, operation: operation(), message: String(cString: strerror(number)), errno: number)
    }
    return result
}

/// Like ``withErrno(_:code:_:)`` for calls that return a pointer, `nil` meaning failure.
func withErrno<Pointer>(_ operation: @autoclosure () -> String, _ call: () -> Pointer?) throws(NFTNetlinkError) -> Pointer {
    guard let pointer = call() else {
        let number = Glibc.errno
        throw NFTNetlinkError(code: .transport, operation: operation(), message: String(cString: strerror(number)), errno: number)
    }
    return pointer
}

/// A kernel error number as text, e.g. `No such file or directory`.
func errorText(_ number: Int32) -> String {
    String(cString: strerror(number))
}
