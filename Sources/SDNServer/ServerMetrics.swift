public import Prometheus

/// The Prometheus registry `/metrics` renders. The server records its HTTP figures here; the daemon
/// adds its own (apply durations, kernel writes, drift repairs), directly or by bootstrapping
/// swift-metrics with `PrometheusMetricsFactory(registry: metrics.registry)`.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// More exposition text made at scrape time (the daemon's per-rule counters, read from the kernel
    /// when asked rather than kept as series that go stale when rules go).
    private let scrapeExtra: (@Sendable () async -> String)?

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), scrapeExtra: (@Sendable () async -> String)? = nil) {
        self.registry = registry
        self.scrapeExtra = scrapeExtra
    }

    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// One request: counted by route (the spec's path template), method and status; timed by route and method.
    func record(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(name: "sdnd_http_requests_total", labels: [("route", route), ("method", method), ("status", String(status))]).increment()
        registry.makeDurationHistogram(name: "sdnd_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                                       buckets: Self.durationBuckets).record(duration)
    }

    public func exposition() async -> String {
        let extra = await scrapeExtra?() ?? ""
        return registry.emitToString() + extra
    }

    /// `value` as a Prometheus label value (backslash, double quote and newline escaped).
    public static func labelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
