import Foundation
import GRDB
import SyncCore

/// A full disk (SQLITE_FULL): for a while, a replica's store cannot grow its
/// file (`Store.capFileGrowth`). A write that needs a new page must fail
/// whole, leaving the store as it was, and say so; a batch that fails so is
/// pulled again once the disk has room (the daemon ends the session and
/// dials again). Nothing may be lost: the end checks run after the heal
/// frees every disk. Another SQLite client's writes are not capped.
extension World {
    /// What a failed write must leave as it found: the digest, the highest
    /// seq, the replica id (compared as bytes) and the SQL edits queued
    /// (all, and those waiting).
    struct StoreFingerprint: Equatable {
        let digest: [[UInt8]]
        let highestSeq: UInt64
        let replica: [UInt8]
        let sqlEdits: [Int]
    }

    /// Before a chaos step, from a generator of its own (the other faults of
    /// a seed stay as they were): disks whose time is up are freed; now and
    /// then one replica's disk fills for 2 to 20 s.
    func maybeFillDisk() {
        for replica in replicas where replica.diskFull && replica.diskFullUntil <= now { freeDisk(replica) }
        guard diskRng.chance(0.03) else { return }
        let replica = replicas[diskRng.int(0...(replicas.count - 1))]
        guard let store = replica.store, !replica.diskFull else { return }
        do {
            try store.capFileGrowth(true)
        } catch {
            return violation("\(replica.name): could not fill its disk: \(error)")
        }
        replica.diskFullUntil = now + diskRng.millis(2_000...20_000)
        count("disk full")
        note("\(replica.name)'s disk is full until \(replica.diskFullUntil)")
    }

    /// The disk has room again (its time is up, or the heal).
    func freeDisk(_ replica: SimReplica) {
        guard replica.diskFull else { return }
        replica.diskFullUntil = 0
        do {
            try replica.store?.capFileGrowth(false)
        } catch {
            violation("\(replica.name): could not free its disk: \(error)")
        }
        note("\(replica.name)'s disk has room again")
    }

    /// The store as a write must leave it when a full disk fails it; nil
    /// while the disk has room (nothing to compare then).
    func fingerprint(_ replica: SimReplica) -> StoreFingerprint? {
        guard replica.diskFull, let store = replica.store else { return nil }
        do {
            let edits = Self.queuedSQLEditRows(at: replica.path)
            return StoreFingerprint(digest: try store.digest().buckets, highestSeq: try store.highestSeq(), replica: try store.replicaID.bytes,
                                    sqlEdits: [edits.all, edits.waiting])
        } catch {
            // Reads need no room: one that fails would leave nothing to compare.
            violation("\(replica.name): could not read its store on a full disk: \(error)")
            return nil
        }
    }

    /// Whether `error` is `replica`'s full disk refusing a write (SQLITE_FULL
    /// while its disk is full; by SQLite's message when the store wrapped the
    /// error in one of its own). Only the replica's own store is capped, so
    /// the error can be no other file's.
    func isFullDisk(_ error: Error, _ replica: SimReplica) -> Bool {
        if let error = error as? DatabaseError { return replica.diskFull && error.resultCode == .SQLITE_FULL }
        return isFullDisk(message: "\(error)", replica)
    }

    /// `isFullDisk` for an error known by its text (`SQLEditReport.stoppedBy`).
    func isFullDisk(message: String, _ replica: SimReplica) -> Bool {
        replica.diskFull && message.contains("database or disk is full")
    }

    /// A write a full disk failed left the store as `before` (all or nothing).
    func checkUnchanged(_ replica: SimReplica, since before: StoreFingerprint?, what: String) {
        guard let before, let after = fingerprint(replica) else { return }
        if after != before {
            violation("\(replica.name): \(what) that a full disk failed changed the store (highest seq \(before.highestSeq) → \(after.highestSeq), digest \(before.digest == after.digest ? "same" : "changed"), replica id \(before.replica == after.replica ? "same" : "changed"), SQL edits queued and waiting \(before.sqlEdits) → \(after.sqlEdits))")
        }
    }
}
