import Foundation
import GRDB

/// The plain SQL face of the dataset: one table per collection, one column per
/// field (sets as JSON arrays), plus `conflicted` (SPEC §8).
///
/// Rows are rewritten in the same transaction as the slots they come from, so
/// `sqlite3 data.db 'select title, status from agreements'` always reads a
/// committed, consistent state. Only records that exist have a row.
struct CollectionViews {
    let schema: Schema

    /// Creates missing tables and rebuilds any whose columns no longer match the schema.
    func prepare(in db: Database) throws {
        for collection in schema.collections {
            let expected = ["id"] + collection.fields.map(\.name) + ["conflicted"]
            let existing = try db.tableExists(collection.name) ? try db.columns(in: collection.name).map(\.name) : []
            if existing == expected { continue }
            if !existing.isEmpty { try db.execute(sql: "DROP TABLE \(collection.name.quotedDatabaseIdentifier)") }
            let columns = collection.fields.map { field in
                "\(field.name.quotedDatabaseIdentifier) \(Self.columnType(field))"
            }
            try db.execute(sql: """
                CREATE TABLE \(collection.name.quotedDatabaseIdentifier)(
                    id TEXT PRIMARY KEY NOT NULL,
                    \(columns.joined(separator: ",\n    ")),
                    conflicted INTEGER NOT NULL DEFAULT 0)
                """)
            for field in collection.fields where Self.indexedTypes.contains(field.type) {
                try db.execute(sql: """
                    CREATE INDEX \("\(collection.name)_by_\(field.name)".quotedDatabaseIdentifier)
                    ON \(collection.name.quotedDatabaseIdentifier)(\(field.name.quotedDatabaseIdentifier))
                    """)
            }
            let records = try String.fetchAll(db, sql: "SELECT DISTINCT record FROM sync_slots WHERE collection = ?", arguments: [collection.name])
            for record in records { try refresh(RecordRef(collection: collection.name, id: record), in: db) }
        }
    }

    /// Rewrites (or removes) the view row of one record, reading its slots.
    func refresh(_ ref: RecordRef, in db: Database) throws {
        try write(ref, view: try RecordView.load(ref, from: db), in: db)
    }

    /// Writes the view row of one record from its reading (removes it when the
    /// record does not exist).
    func write(_ ref: RecordRef, view: RecordView?, in db: Database) throws {
        guard let collection = schema.collection(ref.collection) else { return }
        let table = collection.name.quotedDatabaseIdentifier
        guard let view, view.exists else {
            let delete = try FastStatement(db, "DELETE FROM \(table) WHERE id = ?")
            delete.bind(1, ref.id)
            try delete.execute()
            return
        }
        let placeholders = Array(repeating: "?", count: collection.fields.count + 2).joined(separator: ", ")
        let upsert = try FastStatement(db, "INSERT OR REPLACE INTO \(table) VALUES (\(placeholders))")
        upsert.bind(1, ref.id)
        for (offset, field) in collection.fields.enumerated() {
            let index = Int32(offset + 2)
            if field.isSet {
                upsert.bind(index, Self.jsonArray(view.presentMembers(field.name)))
            } else {
                upsert.bind(index, view.value(field.name))
            }
        }
        upsert.bind(Int32(collection.fields.count + 2), view.isConflicted ? 1 : 0)
        try upsert.execute()
    }

    static let indexedTypes: Set<FieldSchema.Kind> = []

    static func columnType(_ field: FieldSchema) -> String {
        switch field.type {
        case .integer, .bool: "INTEGER"
        default: "TEXT"
        }
    }

    static func databaseValue(_ value: Value) -> DatabaseValue {
        switch value {
        case .null: .null
        case .bool(let flag): flag.databaseValue
        case .int(let number): number.databaseValue
        case .text(let text): text.databaseValue
        }
    }

    /// A JSON array of strings, escaped per RFC 8259 (hot path: no Foundation).
    static func jsonArray(_ members: [String]) -> String {
        var out = "["
        for (index, member) in members.enumerated() {
            if index > 0 { out += "," }
            out += "\""
            for scalar in member.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        }
        return out + "]"
    }
}
