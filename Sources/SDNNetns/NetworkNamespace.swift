import Glibc

/// A Linux network namespace, as an explicit value.
///
/// A namespace is identified by a file that pins it: `/run/netns/NAME` for a named namespace (the
/// iproute2 convention, so `ip netns exec NAME …` and `ip -n NAME …` work on it), or
/// `/proc/PID/ns/net` for the namespace a process lives in. Code that needs to act inside a namespace
/// receives one of these values and enters it explicitly (``run(_:)``, ``openSocket(domain:type:protocol:)``);
/// nothing here ever changes the namespace of the caller's thread.
///
/// Equality compares the name and the path. Two different paths can pin the same kernel namespace;
/// compare ``inode()`` to ask the kernel.
public struct NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The name under ``runDirectory``, or `nil` for a namespace known only by its path.
    public let name: String?
    /// The file that pins the namespace and that `setns(2)` opens.
    public let path: String

    /// Where named namespaces live, as with `ip netns` (`/var/run/netns` is the same directory).
    public static let runDirectory = "/run/netns"

    /// A namespace known only by its path, e.g. a container's `/proc/PID/ns/net`.
    public init(path: String) {
        self.name = nil
        self.path = path
    }

    init(name: String) {
        self.name = name
        self.path = "\(Self.runDirectory)/\(name)"
    }

    /// The namespace this process runs in: the host's, unless the process itself was started in
    /// another one (e.g. under `unshare -n`).
    ///
    /// It is pinned through this process's own pid, so it stays valid for the life of the process
    /// even though threads created by ``run(_:)`` are in other namespaces meanwhile.
    public static var current: NetworkNamespace {
        NetworkNamespace(path: "/proc/\(getpid())/ns/net")
    }

    /// The namespace process `pid` runs in.
    public static func process(_ pid: Int32) -> NetworkNamespace {
        NetworkNamespace(path: "/proc/\(pid)/ns/net")
    }

    /// Opens an existing named namespace, as created by ``create(named:)`` or `ip netns add`.
    ///
    /// - Throws: ``NetnsError`` if the name is invalid, the file is missing, or the file is not a
    ///   mounted namespace (a leftover of an interrupted creation).
    public static func named(_ name: String) throws -> NetworkNamespace {
        try validate(name: name)
        let namespace = NetworkNamespace(name: name)
        try namespace.requirePinnedNamespace()
        return namespace
    }

    /// Creates a new, empty network namespace named `name`, exactly as `ip netns add NAME` does but
    /// without running `ip`.
    ///
    /// Steps, following iproute2: make sure ``runDirectory`` exists and is a shared mount point (so an
    /// unmount propagates to other mount namespaces and frees the namespace), create the empty file,
    /// then on a dedicated thread `unshare(CLONE_NEWNET)` and bind-mount that thread's
    /// `/proc/thread-self/ns/net` onto the file. The thread then exits; the bind mount keeps the
    /// namespace alive. No other thread — the caller's included — ever enters it.
    ///
    /// Only the loopback interface exists in the new namespace, and it is down.
    ///
    /// - Throws: ``NetnsError`` if the name is invalid or taken, or a system call fails (not root).
    public static func create(named name: String) throws -> NetworkNamespace {
        try validate(name: name)
        try prepareRunDirectory()
        let namespace = NetworkNamespace(name: name)

        let descriptor = try withErrno("create", path: namespace.path) {
            open(namespace.path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        }
        close(descriptor)

        do {
            try DedicatedThread.run {
                try NamespaceSyscalls.unshareNetwork()
                try withErrno("mount --bind /proc/thread-self/ns/net", path: namespace.path) {
                    mount("/proc/thread-self/ns/net", namespace.path, "none", UInt(MS_BIND), nil)
                }
            }
        } catch {
            // The file exists but pins nothing; remove it so the name can be used again.
            unlink(namespace.path)
            throw error
        }
        return namespace
    }

    /// Removes a named namespace, as `ip netns delete` does: detach the bind mount, remove the file.
    ///
    /// The kernel frees the namespace once nothing else holds it (open sockets, processes, other
    /// mounts). A file left unmounted by an interrupted ``create(named:)`` is removed as well.
    ///
    /// - Throws: ``NetnsError`` for a namespace known only by its path, or if a system call fails.
    public func delete() throws {
        guard name != nil else {
            throw NetnsError(operation: "delete", path: path, message: "only a named namespace can be deleted")
        }
        // EINVAL: not a mount point, i.e. a half-created leftover; iproute2 unlinks those as well.
        // (Written with `ignoring:` rather than a typed `catch … where`, which crashes the Swift 6.3
        // compiler in ClosureLifetimeFixup.)
        try withErrno("umount2(MNT_DETACH)", path: path, ignoring: [EINVAL]) { umount2(path, Int32(MNT_DETACH)) }
        try withErrno("unlink", path: path) { unlink(path) }
    }

    /// The kernel's identity for this namespace: the nsfs inode number that
    /// `readlink /proc/self/ns/net` shows as `net:[N]`. Two values denote the same namespace exactly
    /// when their inodes are equal.
    public func inode() throws -> UInt64 {
        UInt64(try Self.status(of: path).st_ino)
    }

    public var description: String { name ?? path }

    // MARK: - Helpers

    /// Rejects names that `ip netns` would reject or that would escape ``runDirectory``.
    static func validate(name: String) throws(NetnsError) {
        let invalid = name.isEmpty || name == "." || name == ".." || name.contains("/")
            || name.contains("\0") || name.utf8.count > Int(NAME_MAX)
        if invalid {
            throw NetnsError(
                operation: "validate name", message: "invalid namespace name \"\(name)\" (empty, '.', '..', contains '/' or too long)"
            )
        }
    }

    /// Mirrors iproute2's `netns_add` preparation of `/run/netns`, under the same `flock`, because
    /// concurrent first-time setups could otherwise stack bind mounts recursively (Debian #949235).
    private static func prepareRunDirectory() throws(NetnsError) {
        try withErrno("mkdir", path: runDirectory, ignoring: [EEXIST]) { mkdir(runDirectory, 0o755) }
        let lock = open(runDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if lock >= 0 { close(lock) } }
        // Like iproute2: proceed without the lock rather than fail if it cannot be taken.
        if lock >= 0 { flock(lock, LOCK_EX) }

        var madeMountPoint = false
        while mount("", runDirectory, "none", UInt(MS_SHARED | MS_REC), nil) == -1 {
            let sharedError = errno
            // EINVAL means "not a mount point": make it one (a bind mount onto itself) and retry once.
            guard sharedError == EINVAL, !madeMountPoint else {
                throw NetnsError(operation: "mount --make-rshared", errno: sharedError, path: runDirectory)
            }
            try withErrno("mount --rbind", path: runDirectory) {
                mount(runDirectory, runDirectory, "none", UInt(MS_BIND | MS_REC), nil)
            }
            madeMountPoint = true
        }
    }

    /// Fails unless `path` is a namespace file (it lives on nsfs, like `/proc/self/ns/net`).
    func requirePinnedNamespace() throws(NetnsError) {
        let file = try Self.status(of: path)
        let reference = try Self.status(of: "/proc/self/ns/net")
        guard file.st_dev == reference.st_dev else {
            throw NetnsError(
                operation: "open", path: path,
                message: "not a network namespace (not a bind mount of a namespace; a leftover of an interrupted creation?)"
            )
        }
    }

    static func status(of path: String) throws(NetnsError) -> stat {
        var status = stat()
        try withErrno("stat", path: path) { stat(path, &status) }
        return status
    }
}
