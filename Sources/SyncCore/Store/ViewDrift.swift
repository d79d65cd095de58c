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
            let columns = ["id"] + collection.fields.map(\.name) + ["conflicted"]
            let table = try Row.fetchCursor(db, sql: "SELECT \(columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")) FROM \(collection.name.quotedDatabaseIdentifier) ORDER BY id")
            var pendingRow: Row? = try table.next().map { $0.copy() }
            func advanceRowsBefore(_ id: [UInt8]?) throws {
                while let row = pendingRow {
                    let rowID = Array((String.fromDatabaseValue(row[0]) ?? "").utf8)
                    if let id, !rowID.lexicographicallyPrecedes(id) { return }
                    note(ViewDrift(ref: RecordRef(collection: collection.name, id: String(decoding: rowID, as: UTF8.self)), kind: .extraRow))
                    pendingRow = try table.next().map { $0.copy() }
                }
            }
            try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
                let expected = ViewRow(collection, slots: slots)
                let id = Array(ref.id.utf8)
                try advanceRowsBefore(id)
                let matching = pendingRow.flatMap { Array((String.fromDatabaseValue($0[0]) ?? "").utf8) == id ? $0 : nil }
                if matching != nil { pendingRow = try table.next().map { $0.copy() } }
                switch (expected.exists, matching) {
                case (false, nil): break
                case (false, .some): note(ViewDrift(ref: ref, kind: .extraRow))
                case (true, nil): note(ViewDrift(ref: ref, kind: .missingRow))
                case (true, .some(let row)):
                    let differing = Self.differingColumns(row, expected: expected, collection)
                    if !differing.isEmpty { note(ViewDrift(ref: ref, kind: .differs(columns: differing))) }
                }
            }
            try advanceRowsBefore(nil)
        }
        return (drift, count)
    }

    /// The columns of `row` whose stored value differs from `expected`.
    static func differingColumns(_ row: Row, expected: ViewRow, _ collection: CollectionSchema) -> [String] {
        var differing: [String] = []
        for (offset, field) in collection.fields.enumerated() {
            let want = field.isSet ? CollectionViews.jsonArray(expected.members[offset]).databaseValue
                                   : CollectionViews.databaseValue(expected.values[offset])
            if !sameStoredValue(row[offset + 1], want) { differing.append(field.name) }
        }
        if !sameStoredValue(row[collection.fields.count + 1], (expected.conflicted ? 1 : 0).databaseValue) { differing.append("conflicted") }
        return differing
    }

    /// Equal as SQLite stores them: same type, same bytes.
    static func sameStoredValue(_ lhs: DatabaseValue, _ rhs: DatabaseValue) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case (.null, .null): true
        case (.int64(let a), .int64(let b)): a == b
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): Array(a.utf8) == Array(b.utf8)
        case (.blob(let a), .blob(let b)): a == b
        default: false
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
