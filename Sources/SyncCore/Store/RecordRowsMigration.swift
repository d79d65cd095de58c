import Foundation
import GRDB

/// Moves a format-1 database (one `sync_slots` row per slot) to record rows:
/// every slot keeps its state, hash, echo and seq, so digests, cursors held
/// by peers and history stay valid.
enum RecordRowsMigration {
    static func run(_ db: Database) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT collection, record, field, element, state, seq, hash, echo FROM sync_slots ORDER BY collection, record
            """)
        let rowWriter = RecordRowWriter(db: db)
        var current: RecordRef?
        var slots: [FieldElement: StoredSlot] = [:]
        func flush() throws {
            guard let ref = current, !slots.isEmpty else { return }
            _ = try rowWriter.write(ref, id: nil, slots: slots, previousSeqs: [])
            slots.removeAll(keepingCapacity: true)
        }
        while let row = try rows.next() {
            let ref = RecordRef(collection: row[0], id: row[1])
            if ref != current {
                try flush()
                current = ref
            }
            let key = SlotKey(collection: ref.collection, record: ref.id, field: row[2], element: row[3])
            let encoded = [UInt8](row[4] as Data)
            // Its hash (row[6]) is not carried: rows keep none since format 6.
            let echo = (row[7] as Data?).flatMap { ReplicaID(bytes: $0) }
            slots[FieldElement(field: key.field, element: key.element)] =
                StoredSlot(seq: row[5], echo: echo, encoded: encoded[...], state: try SlotState.stored(encoded, key: key))
        }
        try flush()
        try db.setMeta(MetaKey.format, StoreTables.formatVersion)
    }
}
