import Glibc

/// A failed system call while creating, entering or removing a network namespace.
///
/// It says which operation failed, on which path, and why — e.g.
/// `mount --bind /proc/thread-self/ns/net /run/netns/blue: Operation not permitted (errno 1)`.
public struct NetnsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was attempted, in the words of the equivalent command or system call (`setns`, `umount2`, …).
    public var operation: String
    /// The `errno` the kernel reported; `nil` when the failure was detected before any system call
    /// (for example an invalid namespace name).
    public var errno: Int32?
    /// The file the operation was about, if any.
    public var path: String?
    /// A human-readable reason: `strerror(errno)`, or our own explanation.
    public var message: String

    /// Creates an error from an `errno` value; the message is `strerror(errno)`.
    public init(operation: String, errno: Int32, path: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.path = path
        self.message = String(cString: strerror(errno))
    }

    /// Creates an error that no system call reported (an invalid argument detected by us).
    public init(operation: String, path: String? = nil, message: String) {
        self.operation = operation
        self.errno = nil
        self.path = path
        self.message = message
    }

    public var description: String {
        var text = operation
        if let path { text += " \(path)" }
        text += ": \(message)"
        if let errno { text += " (errno \(errno))" }
        return text
    }
}

/// The one place that turns a failed libc call (`-1` plus `errno`) into a ``NetnsError``.
///
/// `errno` is read immediately after `call` returns, before anything else can overwrite it. Errors
/// listed in `ignoring` are expected outcomes (e.g. `EEXIST` from `mkdir`) and return `-1` instead.
@discardableResult
func withErrno<Result: BinaryInteger>(
    _ operation: String,
    path: String? = nil,
    ignoring expectedErrors: Set<Int32> = [],
    _ call: () -> Result
) throws(NetnsError) -> Result {
    let result = call()
    if result == -1 {
        let errorNumber = Glibc.errno
        if !expectedErrors.contains(errorNumber) {
            throw NetnsError(operation: operation, errno: errorNumber, path: path)
        }
    }
    return result
}

/// Like ``withErrno(_:path:_:)`` for calls that return the error number instead of setting `errno`
/// (the pthread family).
func withReturnedErrno(_ operation: String, _ call: () -> Int32) throws(NetnsError) {
    let errorNumber = call()
    if errorNumber != 0 {
        throw NetnsError(operation: operation, errno: errorNumber)
    }
}
