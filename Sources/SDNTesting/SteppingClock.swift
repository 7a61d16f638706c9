import Synchronization

/// A clock for tests whose time moves only when it is read: every `now` is `step` later than the one
/// before, so a duration measured with it is a count of readings, the same on every run and machine.
/// `sleep` moves time to the deadline at once.
public final class SteppingClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        /// Time since the clock's start.
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private let current = Mutex(Instant(offset: .zero))
    public let step: Duration

    public init(step: Duration = .milliseconds(1)) { self.step = step }

    public var now: Instant {
        current.withLock { instant in
            instant = instant.advanced(by: step)
            return instant
        }
    }

    public var minimumResolution: Duration { step }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        current.withLock { $0 = max($0, deadline) }
    }
}
