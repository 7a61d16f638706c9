public import SDNModel
public import SDNStore
import Synchronization

/// The validated model of the last few revisions, by number, shared by the API and the reconcile loop.
/// Revisions are immutable, so a model is good for as long as it is kept. A 1,000-guest revision is
/// 1.5 MB of YAML that takes seconds to parse and validate: the API, which made the model when it wrote
/// the revision, hands it to the loop here instead of the loop parsing the documents again.
public final class RevisionStateCache: Sendable {
    private let entries = Mutex<[(number: RevisionNumber, state: Validated<DesiredState>)]>([])
    private let capacity: Int

    public init(capacity: Int = 4) {
        self.capacity = max(capacity, 1)
    }

    public func state(of number: RevisionNumber) -> Validated<DesiredState>? {
        entries.withLock { entries in
            guard let index = entries.lastIndex(where: { $0.number == number }) else { return nil }
            // Most recently used last.
            let entry = entries.remove(at: index)
            entries.append(entry)
            return entry.state
        }
    }

    public func remember(_ state: Validated<DesiredState>, for number: RevisionNumber) {
        entries.withLock { entries in
            entries.removeAll { $0.number == number }
            entries.append((number, state))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    /// The cached model, else `load()`'s (remembered when it validated).
    public func state(of number: RevisionNumber, orLoad load: () throws -> Validated<DesiredState>) rethrows -> Validated<DesiredState> {
        if let cached = state(of: number) { return cached }
        let loaded = try load()
        remember(loaded, for: number)
        return loaded
    }
}
