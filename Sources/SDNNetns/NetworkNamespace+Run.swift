import Glibc

extension NetworkNamespace {
    /// Runs `body` inside this namespace and returns its result.
    ///
    /// `body` runs on a new thread that has entered the namespace with `setns(2)` and exits
    /// afterwards; the caller's thread never changes namespace, so nothing else ever runs in the
    /// wrong one by accident. The caller waits until `body` returns.
    ///
    /// Keep `body` short and self-contained: it must not start threads, directly or through
    /// Dispatch, Swift concurrency or Foundation (`Process`, `Thread`), because a new thread inherits
    /// the namespace of the thread that creates it and a pool thread born here would run unrelated
    /// work in this namespace for the rest of the process. To keep talking to the namespace
    /// afterwards, create a socket in `body` (see ``openSocket(domain:type:protocol:)``): a socket
    /// stays in the namespace it was created in.
    ///
    /// In `async` code this name resolves to the asynchronous form: call it with `try await`.
    ///
    /// - Throws: ``NetnsError`` if the namespace cannot be entered, or whatever `body` throws.
    public func run<T: Sendable>(_ body: @Sendable () throws -> T) throws -> T {
        try DedicatedThread.run {
            try enterOnCurrentThread()
            return try body()
        }
    }

    /// Runs `body` inside this namespace without blocking the caller's cooperative thread: the
    /// asynchronous form of ``run(_:)``, with the same guarantees and the same rule that `body`
    /// must not start threads.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let namespace = self
        return try await DedicatedThread.run {
            try namespace.enterOnCurrentThread()
            return try body()
        }
    }

    /// Opens a socket that lives in this namespace and returns its file descriptor.
    ///
    /// A socket keeps the namespace it was created in for its whole life, whichever thread uses it
    /// later: this is how a netlink connection (`AF_NETLINK`) talks to a given namespace. The
    /// descriptor is close-on-exec (so it never leaks into spawned tools); the caller owns it and
    /// must `close` it.
    ///
    /// - Parameters:
    ///   - domain: `AF_NETLINK`, `AF_INET`, …
    ///   - type: `SOCK_RAW`, `SOCK_DGRAM`, … (`SOCK_CLOEXEC` is added).
    ///   - protocol: e.g. `NETLINK_ROUTE` (0) or `NETLINK_NETFILTER` (12).
    public func openSocket(domain: Int32, type: Int32, protocol: Int32 = 0) throws -> Int32 {
        let socketType = type | Int32(SOCK_CLOEXEC.rawValue)
        return try run {
            try withErrno("socket") { socket(domain, socketType, `protocol`) }
        }
    }

    /// Moves the calling thread into this namespace. Only for threads made by `DedicatedThread`.
    ///
    /// A thread already in the namespace skips `setns`, which needs `CAP_SYS_ADMIN` even then: so
    /// unprivileged code can still use ``current``.
    func enterOnCurrentThread() throws(NetnsError) {
        let descriptor = try withErrno("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        var target = stat()
        try withErrno("fstat", path: path) { fstat(descriptor, &target) }
        let here = try Self.status(of: "/proc/thread-self/ns/net")
        if target.st_dev == here.st_dev && target.st_ino == here.st_ino { return }
        try NamespaceSyscalls.enterNetwork(descriptor, path: path)
    }
}
