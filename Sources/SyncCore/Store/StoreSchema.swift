import GRDB
import Synchronization

/// The schema a store validates against now: its seed plus the `_schema`
/// records the database holds (docs/schema.md "How the schema evolves",
/// replication-model §8.2). Kept in memory, replaced when a transaction of
/// this process changes those records, or when another process did (its
/// hash in `sync_meta` differs; `Store.refreshSchemaIfChanged`).
final class CurrentSchema: Sendable {
    private let state: Mutex<SchemaEvolution.Effective>

    init(_ effective: SchemaEvolution.Effective) { state = Mutex(effective) }

    var effective: SchemaEvolution.Effective { state.withLock { $0 } }

    func replace(_ effective: SchemaEvolution.Effective) { state.withLock { $0 = effective } }
}

extension SchemaEvolution {
    /// The effective schema of the database `db` opens (inside the caller's
    /// transaction, so it sees that transaction's writes).
    static func effective(seed: Schema, in db: Database) throws -> Effective {
        guard try db.holdsTable("sync_records", in: "main") else { return effective(seed: seed, records: []) }
        return effective(seed: seed, records: try db.schemaRecords(), unavailable: try db.foreignObjectNames(seed: seed))
    }
}

extension Database {
    /// The `_schema` records, read byte for byte: a slot counts only when
    /// its field name's bytes equal one of `SchemaEvolution.scalarFields` or
    /// `setFields` (so two spellings that Swift would call equal never
    /// merge into one entry); set members keep their bytes and come sorted
    /// by them; `_exists` is not read (the schema is additive: a deleted
    /// definition still defines).
    func schemaRecords() throws -> [SchemaEvolution.Record] {
        let scalarNames = SchemaEvolution.scalarFields.map { Array($0.utf8) }
        let setNames = SchemaEvolution.setFields.map { Array($0.utf8) }
        var records: [SchemaEvolution.Record] = []
        try forEachStoredRecord(where: "collection = ?", arguments: [SchemaEvolution.collection], orderBy: "record") { ref, slots in
            var record = SchemaEvolution.Record(id: ref.id)
            var members: [String: [[UInt8]]] = [:]
            for (name, slot) in slots {
                let field = Array(name.field.utf8)
                if name.element.isEmpty, let at = scalarNames.firstIndex(of: field) {
                    let reading = SlotReader.scalar(slot.state)
                    let versions = reading.isConflicted ? reading.siblings.map(\.value) : [reading.value]
                    record.scalars[SchemaEvolution.scalarFields[at], default: []] += versions.filter { $0 != .null }
                } else if !name.element.isEmpty, let at = setNames.firstIndex(of: field), SlotReader.memberPresent(slot.state) {
                    members[SchemaEvolution.setFields[at], default: []].append(Array(name.element.utf8))
                }
            }
            for (field, list) in members {
                record.sets[field] = list.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
            }
            records.append(record)
        }
        return records
    }

    /// Names (as `SQLiteName.key`: SQLite's names ignore ASCII case and
    /// nothing else) of objects in the file that the store did not make for
    /// a collection: an added collection by such a name would take an
    /// analyst's table (or a library's) for its own, so it is withheld on
    /// this replica. A table counts as made by the store only under the
    /// exact bytes of the name it was made under: one another program made
    /// again in other case (pandas' `to_sql("Notes")` for `notes`) is that
    /// program's, and may hold columns and rows of its own that an open,
    /// rebuilding the table, would drop; so its collection is withheld too,
    /// the table left as it is, until it is renamed or dropped.
    func foreignObjectNames(seed: Schema) throws -> Set<[UInt8]> {
        let ours = try CollectionViews.tablesMade(in: self) + seed.collections.map(\.name)
        var names = Set<[UInt8]>()
        for row in try Row.fetchAll(self, sql: "SELECT type, name FROM sqlite_master") {
            let type: String = row[0], name: String = row[1]
            if type == "table", ours.contains(where: { UTF8Identity.equal($0, name) }) { continue }
            names.insert(SQLiteName.key(name))
        }
        return names
    }
}
