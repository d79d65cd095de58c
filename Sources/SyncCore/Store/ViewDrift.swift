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

    /// Rewrites the collection table rows that differ from the stored
    /// slots, in one transaction, by difference: only syncd's columns that
    /// differ are written, so the cells of columns an analyst added stay
    /// (docs/sql.md); a missing row is written, the row of a deleted record
    /// goes, and rows of no record at all (never written, or an id that is
    /// not text) go after the cells of added columns they hold are copied
    /// into a `…_kept_columns` table (left in place if that copy fails).
    /// Replicated state is not touched: no seq, no version, nothing sent to
    /// peers. Returns how many rows differed, and the copies made.
    @discardableResult
    public func repairViews() throws -> (rows: Int, kept: [KeptColumns]) {
        let (_, count) = try viewDrift()
        guard count > 0 else {
            try pool.write { db in try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.rowsHeldBack]) }
            return (0, [])
        }
        let kept = try pool.write { db in try Self.repairViews(in: db, schema: schema) }
        return (count, kept)
    }

    /// `repairViews()` on any database holding the store's tables, inside
    /// the caller's transaction (a join snapshot's copy is repaired with it).
    static func repairViews(in db: Database, schema: Schema) throws -> [KeptColumns] {
        let views = CollectionViews(schema: schema)
        var kept: [KeptColumns] = []
        for collection in schema.tableCollections {
            let table = collection.name.quotedDatabaseIdentifier
            // Compared as bytes with the stored record's id, whatever the column's collation.
            let stray = "typeof(\(table).id) != 'text' OR NOT EXISTS (SELECT 1 FROM sync_records AS r WHERE r.collection = ? AND r.record = \(table).id COLLATE BINARY)"
            let strays = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE \(stray)", arguments: [collection.name]) ?? 0
            if strays > 0 {
                let existing = try db.columns(in: collection.name).map(\.name)
                let theirs = try CollectionViews.notLaidOut(existing, of: collection.name, in: db) ?? []
                var copied = true
                if !theirs.isEmpty, var copy = try KeptColumns.keep(theirs, of: collection.name, in: db) {
                    copy.before = copy.failure == nil ? "rows of no record were removed from it"
                        : "rows of no record were to be removed from it (they were left in place)"
                    kept.append(copy)
                    copied = copy.failure == nil
                }
                if copied {
                    try db.execute(sql: "DELETE FROM \(table) WHERE \(stray)", arguments: [collection.name])
                }
            }
            let statements = CollectionViews.Statements(db: db)
            try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
                try views.write(ref, slots: slots, in: db, statements: statements)
            }
        }
        try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.rowsHeldBack])
        return kept
    }
}
