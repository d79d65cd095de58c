import GRDB

/// The digest made again from the slots' states, beside the one
/// `sync_buckets` records (replication-model §4.5).
///
/// `SlotWriter` keeps the buckets current write by write, so the two are
/// equal unless something wrote the file otherwise: `sqlite3` run on
/// `sync_records` or `sync_buckets`, a file edited or damaged outside
/// SQLite, a bug of an earlier build. A replica whose recorded digest is not
/// its states' is never seen equal to a peer holding the same states, and
/// every session with it ends in a repair pull that cannot help; `syncctl
/// check` reports it, and `syncctl check --repair` writes the buckets again.
public struct DigestRecount: Sendable, Equatable {
    /// The buckets whose recorded digest is not the XOR of their slots' hashes.
    public let differingBuckets: [Int]
    /// Slots read.
    public let slots: Int

    public var isClean: Bool { differingBuckets.isEmpty }

    /// The 256 bucket digests the stored slots make, and how many slots.
    static func bucketsOfStates(in db: Database) throws -> (buckets: [SlotHash], slots: Int) {
        var buckets = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
        var scratch = BinaryWriter(capacity: 512)
        var slots = 0
        try db.forEachStoredRecord { ref, stored in
            for (name, slot) in stored {
                let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                let (hash, bucket) = slot.recomputedHash(under: key, scratch: &scratch)
                buckets[bucket] ^= hash
                slots += 1
            }
        }
        return (buckets, slots)
    }

    /// The bucket digests `sync_buckets` records: zero where it has no
    /// row, nil where its row is not 16 bytes (a digest no peer's equals).
    static func recordedBuckets(in db: Database) throws -> [SlotHash?] {
        var buckets = [SlotHash?](repeating: .zero, count: StateDigest.bucketCount)
        let rows = try FastStatement(db, "SELECT bucket, digest FROM sync_buckets")
        defer { rows.reset() }
        while try rows.step() {
            let bucket = rows.int(0)
            guard (0..<Int64(StateDigest.bucketCount)).contains(bucket) else { continue }
            buckets[Int(bucket)] = rows.isBlob(1) ? rows.withBlob(1) { SlotHash(stored: $0) } : nil
        }
        return buckets
    }

    /// Compares the two in one read of `db`; also returns the buckets the
    /// states make.
    static func check(in db: Database) throws -> (recount: DigestRecount, made: [SlotHash]) {
        let made = try bucketsOfStates(in: db)
        let recorded = try recordedBuckets(in: db)
        let differing = (0..<StateDigest.bucketCount).filter { recorded[$0] != made.buckets[$0] }
        return (DigestRecount(differingBuckets: differing, slots: made.slots), made.buckets)
    }
}

extension Store {
    /// Makes the digest again from every slot's state and names the buckets
    /// whose recorded digest differs (O(slots): one SHA-256 per slot; meant
    /// for `syncctl check`).
    public func recountDigest() throws -> DigestRecount {
        try pool.read { db in try DigestRecount.check(in: db).recount }
    }

    /// Writes every bucket whose recorded digest is not its slots' again,
    /// in one transaction (the states themselves are not touched); returns
    /// what it found before writing.
    public func repairDigest() throws -> DigestRecount {
        try withWriteTransaction { db in
            let (found, made) = try DigestRecount.check(in: db)
            guard !found.isClean else { return found }
            let write = try FastStatement(db, "INSERT OR REPLACE INTO sync_buckets(bucket, digest) VALUES (?, ?)")
            for bucket in found.differingBuckets {
                write.bind(1, Int64(bucket))
                made[bucket].withUnsafeBytes { write.bind(2, blob: $0) }
                try write.execute()
            }
            options.logger.warning("the recorded digest was not the one the states make: buckets written again", metadata: [
                "path": "\(path)", "buckets": "\(found.differingBuckets.count)", "slots": "\(found.slots)"])
            return found
        }
    }
}
