import Synchronization

/// Hands every change to every current subscriber of a store's `changes()`.
///
/// Each subscriber's buffer is unbounded: a change is small, writes are rare (people editing, nodes
/// reporting), and a subscriber that missed one would act on a stale state until the next. A stream that
/// ends (its consumer cancelled or dropped it) is unsubscribed.
public final class StoreChangeBroadcaster: Sendable {
    private struct Subscribers {
        var nextID = 0
        var continuations: [Int: AsyncStream<StoreChange>.Continuation] = [:]
    }

    private let subscribers = Mutex(Subscribers())

    public init() {}

    public func subscribe() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .unbounded)
        let id = subscribers.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.continuations[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    public func send(_ change: StoreChange) {
        let continuations = subscribers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield(change) }
    }

    /// How many streams are subscribed (for tests of unsubscription).
    public var subscriberCount: Int {
        subscribers.withLock { $0.continuations.count }
    }

    deinit {
        let continuations = subscribers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.finish() }
    }
}
