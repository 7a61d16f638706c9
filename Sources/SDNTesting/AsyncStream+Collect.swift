extension AsyncStream where Element: Sendable {
    /// Reads elements up to the first one for which `isLast` is true, or until the stream ends. Either way the
    /// stream is done with afterwards (leaving its loop cancels an `AsyncStream`): collect once per stream.
    ///
    /// After `limit`, `giveUp` runs: it must end the stream (stop its producer), so that a producer that
    /// never sends what the test waits for fails the test instead of hanging it. The limit is a bound
    /// against hangs, not a timing assertion: callers check what was collected.
    public func collect(
        until isLast: (Element) -> Bool, giveUpAfter limit: Duration = .seconds(10), by giveUp: @escaping @Sendable () -> Void
    ) async -> [Element] {
        let watchdog = Task {
            do {
                try await Task.sleep(for: limit)
                giveUp()
            } catch {
                // Cancelled: the elements arrived in time.
            }
        }
        defer { watchdog.cancel() }
        var collected: [Element] = []
        for await element in self {
            collected.append(element)
            if isLast(element) { break }
        }
        return collected
    }
}
