import Foundation

/// Runs blocking work (a QEMU guest waited for, a process run to its end) on a thread of its own, so that
/// the awaiting test does not hold one of Swift's cooperative threads meanwhile.
///
/// The pool is as wide as the machine has cores (two here). Swift Testing starts every test of a run at
/// once, and a test that blocks a pool thread for a minute (a kernel-lab guest booting under TCG) leaves
/// the in-process tests beside it one thread, or none when two do: their wall-clock waits then expire
/// with nothing wrong in the code they test.
public enum OwnThread {
    public static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }
}
