import SDNModel
import SDNNFTables

/// Interval arithmetic on addresses of one family: IP sets with exclusions (`!10.0.0.7`) become plain
/// interval sets, because nftables sets cannot express "all of this except that".
struct AddressIntervals {
    let family: IPAddress.Family
    /// Sorted, disjoint, non-adjacent closed intervals.
    private(set) var intervals: [ClosedRange<UInt128>] = []

    init(family: IPAddress.Family) { self.family = family }

    /// Many ranges at once: sort and merge in O(n log n) (inserting one by one is quadratic, and IP
    /// sets have tens of thousands of entries).
    init(family: IPAddress.Family, ranges: [ClosedRange<UInt128>]) {
        self.family = family
        var merged: [ClosedRange<UInt128>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, last.upperBound == .max || last.upperBound + 1 >= range.lowerBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        intervals = merged
    }

    mutating func insert(_ range: ClosedRange<UInt128>) {
        var merged = range
        var result: [ClosedRange<UInt128>] = []
        for existing in intervals {
            // An interval reaching the top of the address space (`::/0`) touches everything above it.
            let adjacentBelow = existing.upperBound == .max || existing.upperBound + 1 >= merged.lowerBound
            let adjacentAbove = merged.upperBound == .max || merged.upperBound + 1 >= existing.lowerBound
            if adjacentBelow && adjacentAbove {
                merged = min(existing.lowerBound, merged.lowerBound)...max(existing.upperBound, merged.upperBound)
            } else {
                result.append(existing)
            }
        }
        result.append(merged)
        intervals = result.sorted { $0.lowerBound < $1.lowerBound }
    }

    mutating func remove(_ range: ClosedRange<UInt128>) {
        var result: [ClosedRange<UInt128>] = []
        for existing in intervals {
            if existing.upperBound < range.lowerBound || existing.lowerBound > range.upperBound {
                result.append(existing)
                continue
            }
            if existing.lowerBound < range.lowerBound { result.append(existing.lowerBound...(range.lowerBound - 1)) }
            if existing.upperBound > range.upperBound { result.append((range.upperBound + 1)...existing.upperBound) }
        }
        intervals = result
    }

    static func range(of prefix: IPPrefix) -> ClosedRange<UInt128> { prefix.network.integerValue...prefix.lastAddress.integerValue }
    static func range(of range: IPRange) -> ClosedRange<UInt128> { range.first.integerValue...range.last.integerValue }

    /// The intervals as nft values, each the shortest form: an address, a prefix, or a range.
    var values: [Value] {
        intervals.flatMap { interval -> [Value] in
            let low = IPAddress(family: family, integerValue: interval.lowerBound)
            let high = IPAddress(family: family, integerValue: interval.upperBound)
            if low == high { return [.address(low)] }
            if let prefix = Self.exactPrefix(interval, family: family) { return [.prefix(prefix)] }
            return [.range(.address(low), .address(high))]
        }
    }

    private static func exactPrefix(_ interval: ClosedRange<UInt128>, family: IPAddress.Family) -> IPPrefix? {
        let size = interval.upperBound - interval.lowerBound
        guard size != .max else { return IPPrefix(address: IPAddress(family: family, integerValue: 0), length: 0) }
        let count = size + 1
        guard count & (count - 1) == 0, interval.lowerBound & size == 0 else { return nil }
        let hostBits = count.trailingZeroBitCount
        return IPPrefix(address: IPAddress(family: family, integerValue: interval.lowerBound), length: family.bitWidth - hostBits)
    }
}
