import Glibc

/// A growable, contiguous buffer of netlink messages: a whole batch is sent with one `sendmsg`.
///
/// libnftnl writes messages in place without bounds checks, so a caller reserves room for a message's
/// largest possible size before building it; the buffer only grows between messages, never while a
/// message header pointer is live.
final class BatchBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var length = 0

    init(capacity: Int = 1 << 20) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Makes sure `bytes` more bytes fit after the current end.
    func reserve(_ bytes: Int) {
        guard length + bytes > capacity else { return }
        var newCapacity = capacity
        while length + bytes > newCapacity { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: length)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Where the next message goes; zeroed, since libnftnl's header builder expects a clean area.
    var tail: UnsafeMutableRawPointer {
        let pointer = base + length
        memset(pointer, 0, min(capacity - length, 64))
        return pointer
    }

    /// Appends the message just written at `tail` (its length rounded up to netlink's 4-byte alignment).
    func commit(messageLength: Int) {
        length += (messageLength + 3) & ~3
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }
}
