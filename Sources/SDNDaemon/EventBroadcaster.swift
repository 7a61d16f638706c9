import Foundation
import Synchronization

/// Hands each event to every current subscriber; a subscriber that falls behind by more than
/// `bufferLimit` events loses the oldest (an event stream is a view, not a log: the audit log is).
public final class EventBroadcaster: Sendable {
    private struct State {
        var nextSequence: Int64 = 1
        var nextSubscriber = 0
        var subscribers: [Int: AsyncStream<DaemonEvent>.Continuation] = [:]
        var recent: [DaemonEvent] = []
    }

    private let state = Mutex(State())
    private let bufferLimit: Int
    /// Events kept for `recent(after:)` (a client reconnecting with `Last-Event-ID`).
    private let historyLimit = 256

    public init(bufferLimit: Int = 1024) {
        self.bufferLimit = bufferLimit
    }

    /// Numbers the event, delivers it, and returns it as delivered.
    @discardableResult
    public func publish(_ event: DaemonEvent) -> DaemonEvent {
        state.withLock { state in
            var numbered = event
            numbered.sequence = state.nextSequence
            state.nextSequence += 1
            state.recent.append(numbered)
            if state.recent.count > historyLimit { state.recent.removeFirst(state.recent.count - historyLimit) }
            for continuation in state.subscribers.values { continuation.yield(numbered) }
            return numbered
        }
    }

    /// Events from now on (and those after `lastSequence` still kept, for a reconnecting client).
    public func subscribe(after lastSequence: Int64? = nil) -> AsyncStream<DaemonEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { state in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            if let lastSequence {
                for event in state.recent where event.sequence > lastSequence { continuation.yield(event) }
            }
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Ends every subscriber's stream (the daemon is stopping).
    public func finishAll() {
        let continuations = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in continuations { continuation.finish() }
    }
}
