import Glibc

/// Runs work on a brand-new pthread that exits afterwards.
///
/// Namespace membership is per thread. Work that calls `unshare` or `setns` must run on a thread
/// nobody else will ever reuse — not the caller's, not a Dispatch worker, not one of Swift
/// concurrency's cooperative threads — or the namespace would leak into unrelated code. A thread
/// that ends takes its namespace membership with it.
enum DedicatedThread {
    /// Runs `work` on a new thread and waits for it to finish.
    static func run<Value>(_ work: () throws -> Value) throws -> Value {
        try withoutActuallyEscaping(work) { work in
            let outcome = OutcomeBox<Value>()
            let thread = try start {
                outcome.result = Result { try work() }
            }
            // Joining is the synchronization point: `outcome` is written before the thread exits.
            pthread_join(thread, nil)
            return try outcome.result!.get()
        }
    }

    /// Runs `work` on a new thread and resumes the caller when it is done, without blocking a
    /// cooperative thread meanwhile.
    ///
    /// The continuation is resumed by a helper thread that never changes namespace, not by the
    /// thread that ran `work`: resuming enqueues a job, enqueuing may make the runtime start a pool
    /// thread, and a new thread inherits the namespace of the thread that creates it.
    static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            do {
                let helper = try start {
                    continuation.resume(with: Result { try run(work) })
                }
                pthread_detach(helper)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Starts `work` on a new thread; the caller joins or detaches it.
    static func start(_ work: @escaping () -> Void) throws(NetnsError) -> pthread_t {
        let context = Unmanaged.passRetained(WorkBox(work)).toOpaque()
        var thread = pthread_t()
        do {
            try withReturnedErrno("pthread_create") {
                pthread_create(&thread, nil, { context in
                    let box = Unmanaged<WorkBox>.fromOpaque(context!).takeRetainedValue()
                    box.work()
                    return nil
                }, context)
            }
        } catch {
            Unmanaged<WorkBox>.fromOpaque(context).release()
            throw error
        }
        return thread
    }
}

// Both boxes cross exactly one thread boundary, ordered by pthread_create / pthread_join.
private final class WorkBox: @unchecked Sendable {
    let work: () -> Void
    init(_ work: @escaping () -> Void) { self.work = work }
}

private final class OutcomeBox<Value>: @unchecked Sendable {
    var result: Result<Value, any Error>?
}
