import Glibc

/// `unshare(2)` and `setns(2)`, which Swift's Glibc module does not import.
///
/// glibc declares them only under `_GNU_SOURCE`, which the Glibc module map is not built with, and
/// this target may not have a C shim. So they are looked up once with `dlsym` and called through
/// a C function pointer of the exact C signature — ABI-correct, unlike `@_silgen_name`.
enum NamespaceSyscalls {
    /// `CLONE_NEWNET` from `<linux/sched.h>` (also hidden behind `_GNU_SOURCE`).
    static let cloneNewNet: Int32 = 0x4000_0000

    private typealias UnshareFunction = @convention(c) (Int32) -> Int32
    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32

    private static let unshareFunction: UnshareFunction = resolve("unshare")
    private static let setnsFunction: SetnsFunction = resolve("setns")

    /// Moves the calling thread into a new, empty network namespace.
    static func unshareNetwork() throws(NetnsError) {
        try withErrno("unshare(CLONE_NEWNET)") { unshareFunction(cloneNewNet) }
    }

    /// Moves the calling thread into the network namespace that `descriptor` refers to.
    static func enterNetwork(_ descriptor: Int32, path: String) throws(NetnsError) {
        try withErrno("setns", path: path) { setnsFunction(descriptor, cloneNewNet) }
    }

    private static func resolve<Function>(_ symbol: String) -> Function {
        // Every glibc since 2.14 exports both; a missing one means a broken libc, not a runtime condition.
        guard let address = dlsym(dlopen(nil, RTLD_NOW), symbol) else {
            fatalError("libc does not export \(symbol)")
        }
        return unsafeBitCast(address, to: Function.self)
    }
}
