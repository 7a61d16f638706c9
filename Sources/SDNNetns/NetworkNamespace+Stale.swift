import Glibc

extension NetworkNamespace {
    /// Deletes named namespaces called `<prefix><pid>-…` whose creating process `pid` no longer
    /// exists: what a test run killed before its cleanup left behind.
    ///
    /// Namespaces of live processes (including this one) and names without a pid are left alone.
    ///
    /// - Returns: the names removed, sorted.
    /// - Throws: ``NetnsError`` if a leftover cannot be removed. A missing ``runDirectory`` means
    ///   there is nothing to remove.
    @discardableResult
    public static func removeStale(prefix: String = "sdntest-") throws -> [String] {
        var removed: [String] = []
        for name in try namedNamespaceFiles().sorted() {
            guard let creator = creatorProcess(of: name, prefix: prefix), !isProcessAlive(creator) else {
                continue
            }
            try NetworkNamespace(name: name).delete()
            removed.append(name)
        }
        return removed
    }

    /// The pid encoded in `<prefix><pid>-<anything>`, or `nil` if `name` does not have that shape.
    static func creatorProcess(of name: String, prefix: String) -> Int32? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        guard let pid = Int32(rest[..<dash]), pid > 0 else { return nil }
        return pid
    }

    /// `kill(pid, 0)`: EPERM still means the process exists, only ESRCH means it is gone.
    private static func isProcessAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    /// File names in ``runDirectory``, or none if it does not exist yet.
    private static func namedNamespaceFiles() throws(NetnsError) -> [String] {
        guard let directory = opendir(runDirectory) else {
            if errno == ENOENT { return [] }
            throw NetnsError(operation: "opendir", errno: errno, path: runDirectory)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
