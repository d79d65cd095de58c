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
            for field in collection.fields where [.enumeration, .ref, .date].contains(field.type) {
                try db.execute(sql: """
                    CREATE INDEX \("\(collection.name)_by_\(field.name)".quotedDatabaseIdentifier)
                    ON \(collection.name.quotedDatabaseIdentifier)(\(field.name.quotedDatabaseIdentifier))
                    """)
            }
            let records = try String.fetchAll(db, sql: "SELECT DISTINCT record FROM sync_slots WHERE collection = ?", arguments: [collection.name])
            for record in records { try refresh(RecordRef(collection: collection.name, id: record), in: db) }
        }
    }

    /// Rewrites (or removes) the view row of one record from its slots.
    func refresh(_ ref: RecordRef, in db: Database) throws {
        guard let collection = schema.collection(ref.collection) else { return }
        let table = collection.name.quotedDatabaseIdentifier
        guard let view = try RecordView.load(ref, from: db), view.exists else {
            try db.cachedStatement(sql: "DELETE FROM \(table) WHERE id = ?").execute(arguments: [ref.id])
            return
        }
        var arguments: [DatabaseValueConvertible?] = [ref.id]
        for field in collection.fields {
            if field.isSet {
                arguments.append(Self.jsonArray(view.presentMembers(field.name)))
            } else {
                arguments.append(Self.databaseValue(view.value(field.name)))
            }
        }
        arguments.append(view.isConflicted)
        let placeholders = Array(repeating: "?", count: arguments.count).joined(separator: ", ")
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(table) VALUES (\(placeholders))")
            .execute(arguments: StatementArguments(arguments))
    }

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

    static func jsonArray(_ members: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: members, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
