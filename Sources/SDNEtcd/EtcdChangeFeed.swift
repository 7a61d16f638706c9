import Foundation
import SDNStore
import Synchronization

/// `EtcdStateStore.changes()`: one watch on the store's prefix (all of it but the revisions' documents),
/// its events turned into `StoreChange`s for every subscriber.
///
/// A subscriber gets the changes made after it subscribed: it remembers the newest etcd revision the
/// client had seen then (every write through this store has returned by then, so its revision is at or
/// below), and gets only events of later revisions. The watch starts, with the first subscriber, just
/// after that revision, so a write made right after `changes()` returns is in the stream even if etcd
/// delivers it before the watch is set up.
///
/// A store that has not talked to etcd yet (its client has seen no revision) starts the watch at etcd's
/// current revision, whatever that is when the watch is set up.
///
/// The watch resumes after the last revision it delivered whenever it breaks (etcd restarted, a member
/// lost), retrying while etcd is unreachable. If etcd compacted those revisions meanwhile, the feed reads
/// what changed since (revisions created, the target and node statuses modified at or after that
/// revision, which etcd filters by revision) and sends that instead. The keys that can be deleted — a
/// node's liveness (its lease expired) and its applied record (the node was forgotten) — are tracked as
/// of the last revision delivered, so that those that disappeared while the history was compacted away
/// are sent as changes too.
final class EtcdChangeFeed: Sendable {
    private struct Subscriber {
        /// Only changes of later etcd revisions.
        var floor: Int64
        var continuation: AsyncStream<StoreChange>.Continuation
    }

    private struct State {
        var nextID = 0
        var subscribers: [Int: Subscriber] = [:]
        var watcher: Task<Void, Never>?
        var stopped = false
    }

    private let client: EtcdClient
    private let keys: EtcdStoreKeys
    private let state = Mutex(State())
    /// The keys under `nodes/` (liveness, applied records) as of the last revision delivered.
    private let nodeKeys = Mutex<Set<Data>>([])

    init(client: EtcdClient, keys: EtcdStoreKeys) {
        self.client = client
        self.keys = keys
    }

    func subscribe() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .unbounded)
        let id: Int? = state.withLock { state in
            guard !state.stopped else { return nil }
            let floor = client.newestRevisionSeen
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(floor: floor, continuation: continuation)
            if state.watcher == nil {
                // 0: from etcd's current revision.
                state.watcher = Task { [self] in await self.watch(from: floor == 0 ? 0 : floor + 1) }
            }
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    func stop() {
        let (watcher, subscribers) = state.withLock { state in
            state.stopped = true
            defer {
                state.watcher = nil
                state.subscribers.removeAll()
            }
            return (state.watcher, Array(state.subscribers.values))
        }
        watcher?.cancel()
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    private func send(_ change: StoreChange, revision: Int64) {
        state.withLock { state in
            // Under the lock that subscribe() takes: a subscriber either was there before this revision was
            // recorded as seen (and gets it) or came after (and its floor excludes it).
            client.observe(revision: revision)
            for subscriber in state.subscribers.values where subscriber.floor < revision {
                subscriber.continuation.yield(change)
            }
        }
    }

    private func watch(from start: Int64) async {
        var next = start
        var delay = Duration.milliseconds(50)
        await seedNodeKeys(asOf: start - 1)
        while !Task.isCancelled {
            do {
                let watch = try await client.watch(EtcdWatchCreateRequest(
                    key: keys.prefixData, rangeEnd: keys.watchedRangeEnd, startRevision: next, progressNotify: true
                ))
                for try await response in watch {
                    delay = .milliseconds(50)
                    if next == 0, response.created { next = response.header.revision + 1 }
                    for event in response.events {
                        next = max(next, event.keyValue.modRevision + 1)
                        if event.keyValue.key.starts(with: keys.nodesPrefix) {
                            _ = nodeKeys.withLock { event.kind == .put ? $0.insert(event.keyValue.key).inserted : $0.remove(event.keyValue.key) != nil }
                        }
                        if let change = keys.change(for: event) { send(change, revision: event.keyValue.modRevision) }
                    }
                }
            } catch EtcdError.compacted {
                // next > 0 here: a watch from the current revision has nothing compacted.
                do {
                    next = try await catchUp(after: next)
                    continue
                } catch {}
            } catch {
                if Task.isCancelled { return }
            }
            // The watch ended or etcd is unreachable: try again, less often the longer it lasts.
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }

    /// After compaction: sends what changed at or after `next` by reading it, and returns the revision to
    /// watch from.
    private func catchUp(after next: Int64) async throws -> Int64 {
        var created = EtcdRangeRequest.prefix(keys.historyPrefix)
        created.keysOnly = true
        created.minCreateRevision = next
        var statuses = EtcdRangeRequest.prefix(keys.nodeStatusPrefix)
        statuses.keysOnly = true
        statuses.minModRevision = next
        var liveness = EtcdRangeRequest.prefix(keys.livenessPrefix)
        liveness.minModRevision = next
        var nodes = EtcdRangeRequest.prefix(keys.nodesPrefix)
        nodes.keysOnly = true
        // One transaction of reads: all at one revision, from which the watch resumes.
        let response = try await client.txn(EtcdTxnRequest(compare: [], success: [
            .range(created), .range(EtcdRangeRequest(key: keys.target)), .range(statuses), .range(liveness), .range(nodes),
        ]))
        var changes: [(revision: Int64, change: StoreChange)] = []
        for stored in response.responses.first?.range?.kvs ?? [] {
            var created = EtcdEvent(kind: .put, keyValue: stored, previousKeyValue: nil)
            created.keyValue.version = 1
            if let change = keys.change(for: created) { changes.append((stored.createRevision, change)) }
        }
        let rest = response.responses.dropFirst().prefix(3).flatMap { $0.range?.kvs ?? [] }
        for stored in rest where stored.modRevision >= next {
            if let change = keys.change(for: EtcdEvent(kind: .put, keyValue: stored, previousKeyValue: nil)) {
                changes.append((stored.modRevision, change))
            }
        }
        // Deleted meanwhile: tracked before, absent now.
        let present = Set((response.responses.last?.range?.kvs ?? []).map(\.key))
        let vanished = nodeKeys.withLock { known in
            defer { known = present }
            return known.subtracting(present)
        }
        for key in vanished.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let deleted = EtcdKeyValue(key: key, value: Data(), createRevision: 0, modRevision: response.header.revision, version: 0, lease: 0)
            if let change = keys.change(for: EtcdEvent(kind: .delete, keyValue: deleted, previousKeyValue: nil)) {
                changes.append((response.header.revision, change))
            }
        }
        for (revision, change) in changes.sorted(by: { $0.revision < $1.revision }) {
            send(change, revision: revision)
        }
        return max(next, response.header.revision + 1)
    }

    /// The keys under `nodes/` as of `revision` (the one before the watch starts), or now when that
    /// revision is compacted or the watch starts now.
    private func seedNodeKeys(asOf revision: Int64) async {
        var request = EtcdRangeRequest.prefix(keys.nodesPrefix)
        request.keysOnly = true
        request.revision = max(revision, 0)
        var response = try? await client.range(request)
        if response == nil, revision > 0 {
            request.revision = 0
            response = try? await client.range(request)
        }
        let known = Set((response?.kvs ?? []).map(\.key))
        nodeKeys.withLock { $0 = known }
    }
}
