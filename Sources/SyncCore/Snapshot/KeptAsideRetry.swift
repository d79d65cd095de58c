import Foundation
import GRDB

/// What a fold of the databases kept aside (`Snapshots.mergeAndRemoveKeptAside`)
/// left behind, and why.
public struct KeptAsideFold: Sendable, Equatable {
    /// Files still kept aside for a failure that passes by itself (a full
    /// disk, a lock held by another program, memory short): worth trying
    /// again in this session, without waiting for the next.
    public var stoppedByPassingFailure = 0
    /// Files still kept aside for anything else (one that does not open, a
    /// damaged file): tried again after the next session's sync only.
    public var keptForOtherReasons = 0

    public init(stoppedByPassingFailure: Int = 0, keptForOtherReasons: Int = 0) {
        self.stoppedByPassingFailure = stoppedByPassingFailure
        self.keptForOtherReasons = keptForOtherReasons
    }

    /// Whether `error` passes by itself: SQLite's full disk, busy, locked,
    /// interrupted or out-of-memory (`ReadFailure.passes`), or the file
    /// system's full disk or quota.
    public static func passes(_ error: any Error) -> Bool {
        if ReadFailure.passes(error) { return true }
        if let error = error as? POSIXError { return [.ENOSPC, .EDQUOT, .EBUSY, .EAGAIN, .EINTR].contains(error.code) }
        return false
    }
}

/// When a fold that a passing failure stopped is tried again
/// (replication-model §7): 5 s after it, then after twice the last wait,
/// at most 5 minutes, for as long as the process runs and the folds keep
/// stopping so. A fold that ends otherwise — nothing left, or only files kept
/// for other reasons — ends the retries and starts the next series at 5 s.
/// Without it, a merge a full disk stopped would wait for the next session,
/// which on a steady link may be days (found by the simulator, seed 1382).
///
/// Pure: the daemon (`SyncNode.foldKeptAside`) and the simulator keep the
/// time and call `after(_:)` with each fold's outcome.
public struct KeptAsideRetry: Sendable, Equatable {
    public static let firstDelayMillis: UInt64 = 5_000
    public static let longestDelayMillis: UInt64 = 300_000

    /// The wait before the next retry if the coming fold stops too.
    public private(set) var nextDelayMillis = firstDelayMillis

    public init() {}

    /// Milliseconds until the fold is tried again after `fold`, or nil when
    /// it is not tried again before the next session's sync.
    public mutating func after(_ fold: KeptAsideFold) -> UInt64? {
        guard fold.stoppedByPassingFailure > 0 else {
            nextDelayMillis = Self.firstDelayMillis
            return nil
        }
        defer { nextDelayMillis = min(nextDelayMillis * 2, Self.longestDelayMillis) }
        return nextDelayMillis
    }
}
