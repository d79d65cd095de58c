/// A hybrid logical clock after Kulkarni et al. (2014), with a drift cap.
///
/// Pure: the wall time is passed in, so it can be simulated. The clock never
/// runs more than `maxDrift` milliseconds ahead of the wall time it is given.
public struct HybridClock: Sendable {
    public private(set) var last: HLC
    public let maxDriftMillis: UInt64

    /// What `receive` made of a remote reading.
    public enum Observation: Equatable, Sendable {
        /// The clock took the reading into account.
        case accepted
        /// The reading is further ahead of wall time than the drift cap: the
        /// clock ignored it, and the caller should count and report it.
        case fromTheFuture(aheadMillis: UInt64)
    }

    public static let defaultMaxDriftMillis: UInt64 = 10 * 60 * 1000

    public init(last: HLC = .zero, maxDriftMillis: UInt64 = defaultMaxDriftMillis) {
        self.last = last
        self.maxDriftMillis = maxDriftMillis
    }

    /// A reading for a local event or a send.
    public mutating func tick(wallMillis: UInt64) -> HLC {
        let l = last.millis
        if wallMillis > l {
            last = HLC(millis: wallMillis, logical: 0)
        } else if last.logical == UInt16.max {
            // Logical part exhausted within one millisecond: borrow the next one.
            last = HLC(millis: l + 1, logical: 0)
        } else {
            last = HLC(millis: l, logical: last.logical + 1)
        }
        return last
    }

    /// How far `remote` is ahead of `wallMillis` when that is beyond the
    /// drift cap (a reading `receive` ignores); nil when it is within it.
    public func aheadBeyondCap(_ remote: HLC, wallMillis: UInt64) -> UInt64? {
        remote.millis > wallMillis + maxDriftMillis ? remote.millis - wallMillis : nil
    }

    /// Takes a remote reading into account (receive rule).
    ///
    /// Each call moves the clock past `remote` and by at least one step, so
    /// where the order of many readings is not fixed (a batch), receive only
    /// the highest: the clock then ends past all of them, the same whatever
    /// their order (`Store.apply`).
    public mutating func receive(_ remote: HLC, wallMillis: UInt64) -> Observation {
        if let ahead = aheadBeyondCap(remote, wallMillis: wallMillis) {
            return .fromTheFuture(aheadMillis: ahead)
        }
        let l = last.millis
        let newMillis = max(l, remote.millis, wallMillis)
        var logical: UInt32
        if newMillis == l && newMillis == remote.millis {
            logical = UInt32(max(last.logical, remote.logical)) + 1
        } else if newMillis == l {
            logical = UInt32(last.logical) + 1
        } else if newMillis == remote.millis {
            logical = UInt32(remote.logical) + 1
        } else {
            logical = 0
        }
        if logical > UInt32(UInt16.max) {
            last = HLC(millis: newMillis + 1, logical: 0)
        } else {
            last = HLC(millis: newMillis, logical: UInt16(logical))
        }
        return .accepted
    }
}
