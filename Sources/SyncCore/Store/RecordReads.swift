import Foundation
import GRDB

extension Database {
    /// The highest seq stamped here (0 before the first write).
    static func highestSeq(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM sync_feed")) ?? 0
    }

    /// The seq above which a slot may have its history deferred
    /// (`MetaKey.deferredHistorySince`). A file below format 5 defers none,
    /// whatever its meta says (a join snapshot is read with this too).
    func deferredHistorySince() throws -> Int64 {
        if (Int.fromDatabaseValue(try meta(MetaKey.format)) ?? 0) < 5 { return Int64.max }
        return max(0, Int64.fromDatabaseValue(try meta(MetaKey.deferredHistorySince)) ?? 0)
    }

    /// A record's stored slots; empty when no slot of it exists.
    func storedSlots(_ ref: RecordRef) throws -> [FieldElement: StoredSlot] {
        let statement = try cachedStatement(sql: "SELECT slots FROM sync_records WHERE collection = ? AND record = ?")
        guard let blob = try Data.fetchOne(statement, arguments: [ref.collection, ref.id]) else { return [:] }
        return try StoredRecord.decode([UInt8](blob), ref: ref)
    }

    /// The stored state of a slot; the empty state when absent.
    func slotState(_ key: SlotKey) throws -> SlotState {
        try storedSlots(key.recordRef)[FieldElement(field: key.field, element: key.element)]?.state ?? .empty
    }

    /// Calls `body` with every stored record (optionally those matching
    /// `condition`, an SQL expression over `sync_records`), decoded.
    func forEachStoredRecord(where condition: String = "1", arguments: StatementArguments = [], orderBy order: String = "id",
                             _ body: (RecordRef, [FieldElement: StoredSlot]) throws -> Void) throws {
        let rows = try Row.fetchCursor(self, sql: "SELECT collection, record, slots FROM sync_records WHERE \(condition) ORDER BY \(order)",
                                       arguments: arguments)
        while let row = try rows.next() {
            let ref = RecordRef(collection: row[0], id: row[1])
            try body(ref, try StoredRecord.decode([UInt8](row[2] as Data), ref: ref))
        }
    }
}
