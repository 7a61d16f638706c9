import Dispatch
import Glibc
import Synchronization

/// How many threads the compiler may use for the work that splits into independent pieces (the guests'
/// chains, the shadow lint's rule lists, the lint beside the build). The output does not depend on it:
/// pieces are joined in input order.
///
/// The synchronous `FirewallCompiler.compile` runs the pieces on Dispatch threads and blocks its caller
/// until they are done; the `async` one runs them as child tasks, so a caller on Swift concurrency's
/// cooperative pool (the daemon) never holds one of its threads in a blocking wait.
public struct Parallelism: Sendable, Hashable, CustomStringConvertible {
    /// How many pieces run at once; 1 runs everything on the caller's thread, in order.
    public let width: Int

    /// At most `width` pieces at once (at least 1).
    public static func threads(_ width: Int) -> Parallelism { Parallelism(width: max(1, width)) }

    /// Everything on the caller's thread: for callers that run many compiles side by side, and for tests.
    public static let serial = Parallelism(width: 1)

    /// One piece per online core.
    public static var automatic: Parallelism { .threads(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    public var description: String { width == 1 ? "serial" : "\(width) threads" }

    /// `body(0) ..< body(count - 1)` with at most `width` running at once, in index order; blocks the
    /// calling thread until all are done.
    func map<Result: Sendable>(_ count: Int, _ body: @Sendable (Int) -> Result) -> [Result] {
        guard width > 1, count > 1 else { return (0..<count).map(body) }
        let results = Mutex<[Result?]>(Array(repeating: nil, count: count))
        let next = Atomic<Int>(0)
        // `width` workers take the next index until none is left, so a slow piece leaves no core idle.
        DispatchQueue.concurrentPerform(iterations: min(width, count)) { _ in
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                let result = body(index)
                results.withLock { $0[index] = result }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// The same as ``map(_:_:)`` as child tasks: the caller's thread is never blocked.
    func map<Result: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> Result) async -> [Result] {
        guard width > 1, count > 1 else { return (0..<count).map(body) }
        return await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: count)
            var next = min(width, count)
            for index in 0..<next { group.addTask { (index, body(index)) } }
            for await (index, result) in group {
                results[index] = result
                if next < count {
                    let index = next
                    next += 1
                    group.addTask { (index, body(index)) }
                }
            }
            return results.map { $0! }
        }
    }
}
