import Foundation
import GRDB

/// A collection table row that is not what the replicated state says it
/// should be (replication-model §8: the tables are a reading of the slots,
/// rewritten with them). Found by `Store.viewDrift()`; an edit made with
/// plain SQL (`sqlite3 data.db "update agreements …"`) is the usual cause.
public struct ViewDrift: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The record exists, its row is missing.
        case missingRow
        /// A row for a record that does not exist (deleted, or never written).
        case extraRow
        /// The row holds other values in these columns.
        case differs(columns: [String])
    }

    public let ref: RecordRef
    public let kind: Kind
}

extension Store {
    /// Drifted rows listed at most (the count is still exact).
    public static let maxDriftListed = 1_000

    /// Compares every collection table row with the row the readers compute
    /// from the stored slots, column by column, as stored bytes (text is
    /// compared as UTF-8 bytes, not as Swift strings). Streams both sides in
    /// id order (a merge join), so a million rows are never held at once.
    public func viewDrift() throws -> (drift: [ViewDrift], count: Int) {
        try pool.read { db in try Self.viewDrift(in: db, schema: schema) }
    }

    /// `viewDrift()` on any database holding the store's tables (a join
    /// snapshot is checked with it before it is adopted).
    static func viewDrift(in db: Database, schema: Schema, listing limit: Int = maxDriftListed) throws -> (drift: [ViewDrift], count: Int) {
        var drift: [ViewDrift] = []
        var count = 0
        func note(_ item: ViewDrift) {
            count += 1
            if drift.count < limit { drift.append(item) }
        }
        for collection in schema.tableCollections {
            // Read through the C API: GRDB reads text up to a NUL, and a row
            // that differs after one must be found (compared as bytes).
            let columns = ["id"] + collection.fields.map(\.name) + ["conflicted"]
            let table = try FastStatement(db, "SELECT \(columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")) FROM \(collection.name.quotedDatabaseIdentifier) ORDER BY id")
            defer { table.reset() }
            // The row's id, read once per step: its type first (reading a
            // BLOB as text makes SQLite report it as TEXT afterwards).
            var hasRow = false, rowIsText = false, rowID: [UInt8] = []
            func step() throws {
                hasRow = try table.step()
                rowIsText = hasRow && table.isText(0)
                rowID = hasRow ? table.textBytes(0) : []
            }
            try step()
            func advanceRowsBefore(_ id: [UInt8]?) throws {
                while hasRow {
                    if let id, !rowID.lexicographicallyPrecedes(id) { return }
                    note(ViewDrift(ref: RecordRef(collection: collection.name, id: String(decoding: rowID, as: UTF8.self)), kind: .extraRow))
                    try step()
                }
            }
            try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
                let expected = ViewRow(collection, slots: slots)
                let id = Array(ref.id.utf8)
                try advanceRowsBefore(id)
                // A BLOB id is no record's row (`WHERE id = ?` with text never finds it).
                let matching = hasRow && rowIsText && rowID == id
                switch (expected.exists, matching) {
                case (false, false): break
                case (false, true): note(ViewDrift(ref: ref, kind: .extraRow))
                case (true, false): note(ViewDrift(ref: ref, kind: .missingRow))
                case (true, true):
                    let differing = differingColumns(table, expected: expected, collection)
                    if !differing.isEmpty { note(ViewDrift(ref: ref, kind: .differs(columns: differing))) }
                }
                if matching { try step() }
            }
            try advanceRowsBefore(nil)
        }
        return (drift, count)
    }

    /// The names of the columns of the row `statement` stands on (`id`
    /// first) whose stored value differs from `expected`, as bytes.
    static func differingColumns(_ statement: FastStatement, expected: ViewRow, _ collection: CollectionSchema) -> [String] {
        CollectionViews.differingColumns(statement, from: 1, expected, collection).map { offset in
            offset == collection.fields.count ? "conflicted" : collection.fields[offset].name
        }
    }

    /// Rewrites every collection table row from the stored slots (and drops
    /// rows of records that do not exist), in one transaction. Replicated
    /// state is not touched: no seq, no version, nothing sent to peers.
    /// Returns how many rows were rewritten or removed.
    @discardableResult
    public func repairViews() throws -> Int {
        let (_, count) = try viewDrift()
        guard count > 0 else { return 0 }
        try pool.write { db in
            let views = CollectionViews(schema: schema)
            for collection in schema.tableCollections {
                try db.execute(sql: "DELETE FROM \(collection.name.quotedDatabaseIdentifier)")
                let statements = CollectionViews.Statements(db: db)
                try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
                    try views.write(ref, slots: slots, in: db, statements: statements)
                }
            }
        }
        return count
    }
}
