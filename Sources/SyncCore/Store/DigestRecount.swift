import GRDB

/// The digest made again from the slots' states, beside the one
/// `sync_buckets` records (replication-model §4.5).
///
/// `SlotWriter` keeps the buckets current write by write, so the two are
/// equal unless something wrote the file otherwise: `sqlite3` run on
/// `sync_records` or `sync_buckets`, a file edited or damaged outside
/// SQLite, a bug of an earlier build. A replica whose recorded digest is not
/// its states' is never seen equal to a peer holding those states, and
/// every session with it ends in a repair pull that cannot help; `syncctl
/// check` reports it, and `syncctl check --repair` writes the buckets again.
public struct DigestRecount: Sendable, Equatable {
    /// The buckets whose recorded digest is not the XOR of their slots' hashes.
    public let differingBuckets: [Int]
    /// `sync_buckets` rows numbered outside 0–255 (no digest reads them;
    /// snapshot and join checks refuse a file holding one).
    public let strayBucketRows: [Int64]
    /// Record rows syncd never writes (names that are not text or hold a
    /// NUL, a row that does not decode, a slot twice in its row), at most
    /// `maxListed`: the digest cannot be made from them.
    public let unreadableRows: [String]
    /// Slots read.
    public let slots: Int

    public static let maxListed = 100

    public var isClean: Bool { differingBuckets.isEmpty && strayBucketRows.isEmpty && unreadableRows.isEmpty }

    /// The 256 bucket digests the stored slots make, how many slots, and
    /// the rows that cannot be read (`CheckedRecordRow`: as snapshot
    /// verification reads them).
    static func bucketsOfStates(in db: Database) throws -> (buckets: [SlotHash], slots: Int, unreadable: [String]) {
        var buckets = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
        var scratch = BinaryWriter(capacity: 512)
        var slots = 0
        var unreadable: [String] = []
        func note(_ problem: String) { if unreadable.count < maxListed { unreadable.append(problem) } }
        let rows = try FastStatement(db, "SELECT id, collection, record, slots FROM sync_records ORDER BY id")
        defer { rows.reset() }
        while try rows.step() {
            let ref: RecordRef, stored: [FieldElement: StoredSlot]
            switch CheckedRecordRow.read(rows) {
            case .success(let row): (_, ref, stored) = row
            case .failure(let problem):
                note(problem.description)
                continue
            }
            for (name, slot) in stored {
                let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                let (hash, bucket) = slot.recomputedHash(under: key, scratch: &scratch)
                buckets[bucket] ^= hash
                slots += 1
            }
        }
        return (buckets, slots, unreadable)
    }

    /// Compares the two in one read of `db`; also returns the buckets the
    /// states make.
    static func check(in db: Database) throws -> (recount: DigestRecount, made: [SlotHash]) {
        let made = try bucketsOfStates(in: db)
        let recorded = try RecordedBuckets.read(db)
        let differing = (0..<StateDigest.bucketCount).filter { recorded.digests[$0] != made.buckets[$0] }
        return (DigestRecount(differingBuckets: differing, strayBucketRows: recorded.stray, unreadableRows: made.unreadable,
                              slots: made.slots), made.buckets)
    }
}

/// Why `Store.repairDigest` wrote nothing.
public struct DigestRepairRefusal: Error, CustomStringConvertible {
    public let unreadableRows: [String]

    public var description: String {
        "the digest cannot be made again: \(unreadableRows.count) record row(s) are not rows syncd writes (\(unreadableRows.first ?? "")); "
            + "nothing was written. Restore the last good snapshot (`syncctl snapshot restore`) or pull the data again from a peer (a new data directory)"
    }
}

extension Store {
    /// Makes the digest again from every slot's state and names the buckets
    /// whose recorded digest differs (O(slots): one SHA-256 per slot; meant
    /// for `syncctl check`). One read transaction.
    public func recountDigest() throws -> DigestRecount {
        try pool.read { db in try DigestRecount.check(in: db).recount }
    }

    /// Writes every bucket whose recorded digest is not its slots' again and
    /// removes bucket rows outside 0–255, in one transaction; the states
    /// themselves are not touched. Counted first in a read transaction, so a
    /// sound file holds no writer up; counted again under the write lock
    /// before anything is written. Returns what that second count found.
    ///
    /// - Parameter first: that first count, when the caller has just made it
    ///   (`recountDigest`), so it is not made twice.
    /// - Throws: `DigestRepairRefusal` when a record row cannot be read (the
    ///   digest made without it would be another wrong one).
    public func repairDigest(counted first: DigestRecount? = nil) throws -> DigestRecount {
        let first = try first ?? recountDigest()
        if !first.unreadableRows.isEmpty { throw DigestRepairRefusal(unreadableRows: first.unreadableRows) }
        guard !first.isClean else { return first }
        return try withWriteTransaction { db in
            let (found, made) = try DigestRecount.check(in: db)
            if !found.unreadableRows.isEmpty { throw DigestRepairRefusal(unreadableRows: found.unreadableRows) }
            guard !found.isClean else { return found }
            let write = try FastStatement(db, "INSERT OR REPLACE INTO sync_buckets(bucket, digest) VALUES (?, ?)")
            for bucket in found.differingBuckets {
                write.bind(1, Int64(bucket))
                made[bucket].withUnsafeBytes { write.bind(2, blob: $0) }
                try write.execute()
            }
            try db.execute(sql: "DELETE FROM sync_buckets WHERE typeof(bucket) != 'integer' OR bucket NOT BETWEEN 0 AND ?",
                           arguments: [StateDigest.bucketCount - 1])
            let logger = options.logger, path = self.path
            db.afterNextTransaction(onCommit: { _ in
                logger.warning("the recorded digest was not the one the states make: buckets written again", metadata: [
                    "path": "\(path)", "buckets": "\(found.differingBuckets.count)", "stray_rows": "\(found.strayBucketRows.count)",
                    "slots": "\(found.slots)"])
            })
            return found
        }
    }
}
