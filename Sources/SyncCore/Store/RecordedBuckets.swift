import GRDB

/// `sync_buckets` as a file holds it, read by storage class as the store's
/// writer reads it (a digest kept as text would read back as other bytes
/// there): what the join check, snapshot verification and `syncctl check`'s
/// recount compare with the digest the states make.
struct RecordedBuckets {
    /// Per bucket, its digest: zero where no row holds one, nil where its
    /// row is not a 16-byte blob (a digest no peer's equals). Where two rows
    /// name one bucket (a table declared otherwise), the last read.
    var digests = [SlotHash?](repeating: .zero, count: StateDigest.bucketCount)
    /// Rows numbered outside 0–255, or not by an integer (that rows' number, or 0), in order.
    var stray: [Int64] = []
    /// Buckets named by more than one row.
    var doubled: [Int] = []

    /// Whether every row is a bucket number and 16 bytes.
    var isWellFormed: Bool { stray.isEmpty && !digests.contains(nil) }

    static func read(_ db: Database) throws -> RecordedBuckets {
        var recorded = RecordedBuckets()
        var seen = [Bool](repeating: false, count: StateDigest.bucketCount)
        let rows = try FastStatement(db, "SELECT bucket, digest FROM sync_buckets")
        defer { rows.reset() }
        while try rows.step() {
            let bucket = rows.int(0)
            guard rows.isInteger(0), (0..<Int64(StateDigest.bucketCount)).contains(bucket) else {
                recorded.stray.append(bucket)
                continue
            }
            if seen[Int(bucket)] { recorded.doubled.append(Int(bucket)) }
            seen[Int(bucket)] = true
            recorded.digests[Int(bucket)] = rows.isBlob(1) ? rows.withBlob(1) { SlotHash(stored: $0) } : nil
        }
        recorded.stray.sort()
        return recorded
    }
}
