import Glibc
import Synchronization

/// A thread of its own that waits for a socket (a netlink subscription opened in some namespace) to
/// become readable and hands what it reads to every stream made by ``events()``, until ``stop()``.
///
/// The thread is started by the first ``events()`` call, so what the kernel sends before then waits in
/// the socket's receive buffer: a consumer can subscribe, read the state, then consume the changes
/// without a gap. Waiting is a `poll` on the socket and on a pipe that ``stop()`` writes to, so stopping
/// never waits for the kernel. The thread is one that never enters a namespace: the socket keeps the
/// namespace it was opened in.
///
/// Streams buffer without bound: a consumer that stops reading costs memory, never lost events.
public final class SocketReaderThread<Event: Sendable>: Sendable {
    /// What one call of the read closure found.
    public enum Outcome: Sendable {
        /// Keep waiting for the socket.
        case continueReading
        /// The socket is unusable: end every stream.
        case finish
    }

    private let shared: Shared

    /// - Parameters:
    ///   - descriptor: the socket to wait for. It stays owned by the caller (through `read`, which should
    ///     hold what closes it): it is closed when `read` is released, after the thread has ended.
    ///   - read: called on the reader thread whenever the socket is readable or has a pending error; it
    ///     reads what is queued without blocking and passes each event to its `emit` argument.
    /// - Throws: ``NetnsError`` if the stop pipe cannot be made.
    public init(descriptor: Int32, read: @escaping @Sendable (_ emit: (Event) -> Void) -> Outcome) throws(NetnsError) {
        var pipeEnds: [Int32] = [0, 0]
        try withErrno("pipe") { pipe(&pipeEnds) }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        shared = Shared(descriptor: descriptor, wakeRead: pipeEnds[0], wakeWrite: pipeEnds[1], read: read)
    }

    deinit { stop() }

    /// A stream of the events read from now on (and, for the first stream, those queued in the socket
    /// since it was opened). It ends when ``stop()`` is called, when this reader is released, or when the
    /// read closure reports ``Outcome/finish``.
    public func events() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .unbounded)
        let registration = shared.consumers.withLock { consumers -> (identifier: Int, startThread: Bool)? in
            guard !consumers.stopped else { return nil }
            let identifier = consumers.nextIdentifier
            consumers.nextIdentifier += 1
            consumers.continuations[identifier] = continuation
            defer { consumers.threadStarted = true }
            return (identifier, !consumers.threadStarted)
        }
        guard let registration else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak shared] _ in
            _ = shared?.consumers.withLock { $0.continuations.removeValue(forKey: registration.identifier) }
        }
        if registration.startThread { shared.startThread() }
        return stream
    }

    /// Ends the thread and every stream. Safe to call more than once and from any thread.
    public func stop() { shared.stop() }

    /// What the reader thread and the streams share; the thread keeps it alive until it ends, and its
    /// `deinit` closes the pipe and releases the read closure (and with it the socket).
    private final class Shared: Sendable {
        struct Consumers {
            var continuations: [Int: AsyncStream<Event>.Continuation] = [:]
            var nextIdentifier = 0
            var threadStarted = false
            var stopped = false
        }

        let descriptor: Int32
        let wakeRead: Int32
        let wakeWrite: Int32
        let read: @Sendable (_ emit: (Event) -> Void) -> Outcome
        let consumers = Mutex(Consumers())

        init(descriptor: Int32, wakeRead: Int32, wakeWrite: Int32, read: @escaping @Sendable (_ emit: (Event) -> Void) -> Outcome) {
            self.descriptor = descriptor
            self.wakeRead = wakeRead
            self.wakeWrite = wakeWrite
            self.read = read
        }

        deinit {
            close(wakeRead)
            close(wakeWrite)
        }

        func stop() {
            let started = consumers.withLock { consumers in
                consumers.stopped = true
                return consumers.threadStarted
            }
            if started {
                var byte: UInt8 = 1
                _ = write(wakeWrite, &byte, 1)
            } else {
                finishAll()
            }
        }

        func startThread() {
            do {
                // The thread holds `self` until `run` returns.
                pthread_detach(try DedicatedThread.start { self.run() })
            } catch {
                finishAll()
            }
        }

        private func run() {
            defer { finishAll() }
            while !consumers.withLock({ $0.stopped }) {
                var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                if poll(&descriptors, 2, -1) < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if descriptors[1].revents != 0 { return }
                // POLLERR too: a netlink socket reports dropped notifications (ENOBUFS) as a pending error.
                guard descriptors[0].revents != 0 else { continue }
                if case .finish = read(broadcast) { return }
            }
        }

        private func broadcast(_ event: Event) {
            let continuations = consumers.withLock { Array($0.continuations.values) }
            for continuation in continuations { continuation.yield(event) }
        }

        private func finishAll() {
            let continuations = consumers.withLock { consumers in
                consumers.stopped = true
                defer { consumers.continuations = [:] }
                return Array(consumers.continuations.values)
            }
            for continuation in continuations { continuation.finish() }
        }
    }
}
