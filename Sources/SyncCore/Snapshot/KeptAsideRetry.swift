import Foundation
import GRDB

/// What a fold of the databases kept aside (`Snapshots.mergeAndRemoveKeptAside`)
/// left behind, and why, by file name.
public struct KeptAsideFold: Sendable, Equatable {
    /// Files whose merge a failure that passes by itself stopped (a full
    /// disk, a lock held by another program, memory short): their
    /// replicated data is not all in yet, so they are worth trying again
    /// while the daemon runs, without waiting for the next session.
    public var stoppedByPassingFailure: [String] = []
    /// Files still kept aside for anything else: a merge that failed for
    /// another cause (a file that is no database, a damaged one), or a
    /// merge that is in and a step after it that failed (making it durable,
    /// the comparison for the analyst's own tables, the rename that keeps it
    /// for them; nothing replicated waits on those). Tried again after the
    /// next session's sync only.
    public var keptForOtherReasons: [String] = []

    public init(stoppedByPassingFailure: [String] = [], keptForOtherReasons: [String] = []) {
        self.stoppedByPassingFailure = stoppedByPassingFailure
        self.keptForOtherReasons = keptForOtherReasons
    }

    /// Whether the failure `error` of a merge passes by itself: SQLite's
    /// full disk, busy, locked, interrupted or out-of-memory
    /// (`ReadFailure.passes`); or SQLite's I/O or cannot-open error while
    /// the file system holding the database has less than
    /// `shortOfSpaceBytes` free (`freeBytes`, nil when unknown): a real full
    /// disk often fails the copy's open that way (its WAL index, its
    /// journal) before anything is written. Anything else — a file that is
    /// no database, a damaged one, another dataset — is not tried again
    /// before the next session's sync, however full the disk. (A full quota
    /// shows as an I/O error that free space does not explain: not passing.)
    public static func passes(_ error: any Error, freeBytes: UInt64?) -> Bool {
        // The store's open names SQLite's error: judged as that error.
        if case StoreError.cannotOpenDatabase(_, _, let code) = error {
            return passes(DatabaseError(resultCode: ResultCode(rawValue: code)), freeBytes: freeBytes)
        }
        if ReadFailure.passes(error) { return true }
        guard let error = error as? DatabaseError, [.SQLITE_IOERR, .SQLITE_CANTOPEN].contains(error.resultCode) else { return false }
        guard let freeBytes else { return false }
        return freeBytes < shortOfSpaceBytes
    }

    /// Free space below which an I/O error counts as a full disk: 16 MiB.
    public static let shortOfSpaceBytes: UInt64 = 16 << 20
}

/// When a fold that a passing failure stopped is tried again
/// (replication-model §7): 5 s after it, then after twice the last wait,
/// at most 5 minutes, for as long as the process runs and the folds keep
/// stopping so. A fold that ends otherwise — nothing left, or only files kept
/// for other reasons — ends the retries and starts the next series at 5 s.
/// Without it, a merge a full disk stopped would wait for the next session,
/// which on a steady link may be days (found by the simulator, seed 1382).
///
/// Pure: the daemon (`KeptAsideFolds`) and the simulator keep the time and
/// call `after(_:)` with each fold's outcome.
public struct KeptAsideRetry: Sendable, Equatable {
    public static let firstDelayMillis: UInt64 = 5_000
    public static let longestDelayMillis: UInt64 = 300_000

    /// The wait before the next retry if the coming fold stops too.
    public private(set) var nextDelayMillis = firstDelayMillis
    /// The files the next retry folds (`after(_:of:)`).
    public private(set) var names: Set<String> = []

    public init() {}

    /// Milliseconds until the fold is tried again after `fold`, or nil when
    /// it is not tried again before the next session's sync.
    public mutating func after(_ fold: KeptAsideFold) -> UInt64? {
        guard !fold.stoppedByPassingFailure.isEmpty else {
            nextDelayMillis = Self.firstDelayMillis
            return nil
        }
        defer { nextDelayMillis = min(nextDelayMillis * 2, Self.longestDelayMillis) }
        return nextDelayMillis
    }

    /// `after(_:)` for a fold of the files `batch`: the files to try again
    /// (`names`) are those `fold` stopped, and those an earlier fold stopped
    /// that this one did not fold. Both the daemon and the simulator keep them so.
    public mutating func after(_ fold: KeptAsideFold, of batch: Set<String>) -> UInt64? {
        let retried = names.subtracting(batch).union(fold.stoppedByPassingFailure)
        let delay = after(KeptAsideFold(stoppedByPassingFailure: retried.sorted()))
        names = delay == nil ? [] : retried
        return delay
    }
}
