import Glibc
import SDNNetns

// IPv6 devconf (per-interface forwarding and accept_ra, `default`'s accept_ra) and the node-wide
// forwarding switches are not writable over netlink (the kernel takes only the token and addr_gen_mode
// for IPv6, and no "all" at all): they are the sysctl files, read and written from a thread inside the
// namespace (/proc/sys/net follows the namespace of the thread that opens it).

extension LinkConnection {
    /// Writes `value` to the sysctl file at `path` and counts the write.
    ///
    /// - Parameter interface: the link the file belongs to, for a clear error when it does not exist.
    func writeSysctl(_ path: String, value: Int, operation: String, interface: String? = nil) throws(RouteNetlinkError) {
        writes.increment()
        let text = "\(value)\n"
        let status: Int32
        do {
            status = try namespace.run {
                let descriptor = open(path, O_WRONLY | O_CLOEXEC)
                if descriptor < 0 { return errno }
                defer { close(descriptor) }
                let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
                return written < 0 ? errno : 0
            }
        } catch {
            throw RouteNetlinkError(operation: operation, errno: (error as? NetnsError)?.errno, message: "\(error)")
        }
        if status == ENOENT {
            if let interface {
                throw RouteNetlinkError(operation: operation, errno: ENODEV, message: "no link named \"\(interface)\" (or IPv6 is disabled on it)")
            }
            throw RouteNetlinkError(operation: operation, errno: ENOENT, message: "\(path) does not exist (IPv6 disabled in this kernel?)")
        }
        if status != 0 { throw RouteNetlinkError(operation: operation + " (\(path))", errno: status) }
    }

    /// The integer in the sysctl file at `path`; nil when the file does not exist (IPv6 disabled).
    func readSysctl(_ path: String, operation: String) throws(RouteNetlinkError) -> Int? {
        let result: (status: Int32, text: String)
        do {
            result = try namespace.run {
                let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                if descriptor < 0 { return (errno, "") }
                defer { close(descriptor) }
                var buffer = [UInt8](repeating: 0, count: 64)
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 { return (errno, "") }
                return (0, String(decoding: buffer.prefix(count), as: UTF8.self))
            }
        } catch {
            throw RouteNetlinkError(operation: operation, errno: (error as? NetnsError)?.errno, message: "\(error)")
        }
        if result.status == ENOENT { return nil }
        if result.status != 0 { throw RouteNetlinkError(operation: operation + " (\(path))", errno: result.status) }
        guard let word = result.text.split(whereSeparator: \.isWhitespace).first, let value = Int(word) else {
            throw RouteNetlinkError(operation: operation, message: "\(path) holds \"\(result.text)\", not a number")
        }
        return value
    }
}
