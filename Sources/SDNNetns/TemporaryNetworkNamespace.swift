import Glibc
import Synchronization

/// Names of temporary namespaces: `sdntest-<pid>-<counter>`, unique within this process, and
/// recognizable (with their creator's pid) by ``NetworkNamespace/removeStale(prefix:)``.
enum TemporaryNamespaceName {
    static let prefix = "sdntest-"
    private static let counter = Atomic<Int>(0)
    private static let staleRemoval = Mutex(false)

    static func next() -> String {
        let number = counter.add(1, ordering: .relaxed).newValue
        return "\(prefix)\(getpid())-\(number)"
    }

    /// Removes leftovers of killed test runs, once per process, before the first temporary namespace.
    static func removeStaleOnce() {
        staleRemoval.withLock { done in
            guard !done else { return }
            done = true
            // Best effort: a leftover that cannot be removed must not fail an unrelated test.
            _ = try? NetworkNamespace.removeStale(prefix: prefix)
        }
    }
}

/// Creates a uniquely named network namespace with `lo` up, runs `body` with it, and deletes it
/// afterwards — also when `body` throws.
///
/// The namespace is named `sdntest-<pid>-<counter>` so `ip netns exec` and `ip -n` work on it, and so
/// a namespace left behind by a killed process is found by ``NetworkNamespace/removeStale(prefix:)``,
/// which runs once per process before the first temporary namespace is made.
///
/// - Throws: what `body` throws; otherwise a ``NetnsError`` if creation or deletion fails.
@discardableResult
public func withTemporaryNetworkNamespace<T>(_ body: (NetworkNamespace) throws -> T) throws -> T {
    let namespace = try makeTemporaryNetworkNamespace()
    let result: T
    do {
        result = try body(namespace)
    } catch {
        deleteAfterFailure(namespace)
        throw error
    }
    try namespace.delete()
    return result
}

/// The asynchronous form of `withTemporaryNetworkNamespace(_:)`, with the same guarantees.
@discardableResult
public func withTemporaryNetworkNamespace<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (NetworkNamespace) async throws -> T
) async throws -> T {
    let namespace = try makeTemporaryNetworkNamespace()
    let result: T
    do {
        result = try await body(namespace)
    } catch {
        deleteAfterFailure(namespace)
        throw error
    }
    try namespace.delete()
    return result
}

private func makeTemporaryNetworkNamespace() throws -> NetworkNamespace {
    TemporaryNamespaceName.removeStaleOnce()
    let namespace = try NetworkNamespace.create(named: TemporaryNamespaceName.next())
    do {
        try namespace.bringLoopbackUp()
    } catch {
        deleteAfterFailure(namespace)
        throw error
    }
    return namespace
}

/// Deletes `namespace` while another error is already on its way out; that error is the one that
/// matters, so a failed deletion is only reported on stderr.
private func deleteAfterFailure(_ namespace: NetworkNamespace) {
    do {
        try namespace.delete()
    } catch {
        let warning = "warning: could not delete temporary network namespace \(namespace): \(error)\n"
        _ = warning.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}
