import SDNModel
import SDNNFTables

/// Names of statement parameters (limit units, log levels) with their wire values. Datatype names
/// (protocols, ICMP types, flags …) are in the catalog, ``Datatype``.
enum NFTSymbols {
    /// `reject with icmpx <code>`.
    static var icmpxCodes: SymbolTable { Datatype.icmpxCode.symbols }

    /// `limit rate N/<unit>` in seconds.
    static let limitUnits = SymbolTable([("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400), ("week", 604_800)])

    /// Syslog levels of the `log` statement (`warn` is nft's spelling of warning).
    static func logLevel(_ level: LogLevel) -> UInt32? {
        switch level {
        case .emerg: 0
        case .alert: 1
        case .crit: 2
        case .err: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug: 7
        case .nolog: nil
        }
    }

    static func logLevel(_ value: UInt32) -> LogLevel? {
        LogLevel.allCases.first { logLevel($0) == value }
    }
}
