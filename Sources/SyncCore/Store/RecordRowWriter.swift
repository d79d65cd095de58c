import Foundation
import GRDB

/// Writes one record's `sync_records` row and keeps `sync_feed` in step with
/// the seqs its slots carry: an entry for each new seq, and the entries of
/// seqs no slot carries any more removed, so the feed never visits a record
/// for nothing.
final class RecordRowWriter {
    private let db: Database
    private var insertRow: FastStatement?
    private var updateRow: FastStatement?
    private var insertFeed: FastStatement?
    private var deleteFeed: FastStatement?
    private var buffer = BinaryWriter(capacity: 4_096)

    init(db: Database) {
        self.db = db
    }

    /// Stores the row (inserting it when `id` is nil) and returns its id.
    ///
    /// - Parameter previousSeqs: the seqs the record's slots carried before
    ///   this transaction (empty for a new record).
    @discardableResult
    func write(_ ref: RecordRef, id: Int64?, slots: [FieldElement: StoredSlot], previousSeqs: [Int64]) throws -> Int64 {
        buffer.removeAll()
        StoredRecord.encode(slots, into: &buffer)
        let conflicted: Int64 = StoredRecord.isConflicted(slots) ? 1 : 0
        let rowID: Int64
        if let id {
            let update = try FastStatement.prepared(&updateRow, db, "UPDATE sync_records SET slots = ?, slot_count = ?, conflicted = ? WHERE id = ?")
            update.bind(1, blob: buffer.bytes)
            update.bind(2, Int64(slots.count))
            update.bind(3, conflicted)
            update.bind(4, id)
            try update.execute()
            rowID = id
        } else {
            let insert = try FastStatement.prepared(&insertRow, db, """
                INSERT INTO sync_records(collection, record, slots, slot_count, conflicted) VALUES (?, ?, ?, ?, ?)
                """)
            insert.bind(1, ref.collection)
            insert.bind(2, ref.id)
            insert.bind(3, blob: buffer.bytes)
            insert.bind(4, Int64(slots.count))
            insert.bind(5, conflicted)
            try insert.execute()
            rowID = db.lastInsertedRowID
        }
        let seqs = Self.distinctSeqs(slots)
        for seq in seqs where !previousSeqs.contains(seq) {
            let insert = try FastStatement.prepared(&insertFeed, db, "INSERT INTO sync_feed(seq, record_id) VALUES (?, ?)")
            insert.bind(1, seq)
            insert.bind(2, rowID)
            try insert.execute()
        }
        for seq in previousSeqs where !seqs.contains(seq) {
            let delete = try FastStatement.prepared(&deleteFeed, db, "DELETE FROM sync_feed WHERE seq = ?")
            delete.bind(1, seq)
            try delete.execute()
        }
        return rowID
    }

    /// The seqs a record's slots carry, each once (a record has a handful).
    static func distinctSeqs(_ slots: [FieldElement: StoredSlot]) -> [Int64] {
        var seqs: [Int64] = []
        for slot in slots.values where !seqs.contains(slot.seq) { seqs.append(slot.seq) }
        return seqs
    }
}
