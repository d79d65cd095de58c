import Foundation
import GRDB
import Synchronization

/// The replicated schema in the store (issue 25; `SchemaEvolution`): reading
/// the `_schema` records, and the schema they make with the seed.
extension Database {
    /// Every record of `_schema` as `SchemaEvolution` reads it: each scalar
    /// field's live values (the winner first; more than one distinct value is
    /// a conflict) and each set field's present members.
    func schemaRecords() throws -> [SchemaEvolution.Record] {
        var records: [SchemaEvolution.Record] = []
        try forEachStoredRecord(where: "collection = ?", arguments: [SchemaEvolution.collection]) { ref, slots in
            guard let view = RecordView(ref, slots) else { return }
            var record = SchemaEvolution.Record(id: ref.id)
            for (field, scalar) in view.scalars {
                record.scalars[field] = scalar.isConflicted ? scalar.siblings.map(\.value) : [scalar.value]
            }
            for field in view.members.keys { record.sets[field] = view.presentMembers(field) }
            records.append(record)
        }
        return records
    }

    /// The schema this database validates against: `seed` with its `_schema` records.
    func effectiveSchema(seed: Schema) throws -> SchemaEvolution.Effective {
        SchemaEvolution.effective(seed: seed, records: try schemaRecords())
    }
}

/// The store's current schema, replaced when `_schema` records change.
final class SchemaBox: Sendable {
    private let state: Mutex<SchemaEvolution.Effective>

    init(_ effective: SchemaEvolution.Effective) { state = Mutex(effective) }

    var effective: SchemaEvolution.Effective { state.withLock { $0 } }
    var schema: Schema { state.withLock { $0.schema } }
    func replace(_ effective: SchemaEvolution.Effective) { state.withLock { $0 = effective } }
}

extension Store {
    /// Reads the schema again if another process changed it (one meta read);
    /// the daemon calls it on its poll for foreign writes.
    public func refreshSchemaIfChanged() throws {
        let seed = seedSchema
        let current = schemaBox.schema.hash
        let next = try pool.read { db -> SchemaEvolution.Effective? in
            String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)) == current ? nil : try db.effectiveSchema(seed: seed)
        }
        if let next { schemaBox.replace(next) }
    }

    /// A collection of the schema, or the shape of the `_schema` records.
    public func collectionOrSchemaRecords(_ name: String) throws -> CollectionSchema {
        name == SchemaEvolution.collection ? SchemaEvolution.recordSchema : try schema.requireCollection(name)
    }

    /// Makes a schema change (`syncctl schema …`): planned against the schema
    /// held now (only additive changes pass), written as `_schema` slots under
    /// one dot like any edit; the SQL tables follow in the same transaction.
    @discardableResult
    public func changeSchema(_ change: SchemaEvolution.Change, author: String) throws -> WriteReceipt {
        let writes: SchemaEvolution.Writes
        do { writes = try SchemaEvolution.plan(change, against: schema) } catch { throw StoreError.invalidEdit(error.description) }
        let collection = SchemaEvolution.collection
        return try localTransaction(author: author) { tx in
            try tx.write(SlotKey(collection: collection, record: writes.record, field: SlotKey.existsField), .bool(true))
            for (field, value) in writes.scalars { try tx.write(SlotKey(collection: collection, record: writes.record, field: field), value) }
            for (field, member) in writes.members {
                try tx.write(SlotKey(collection: collection, record: writes.record, field: field, element: member), .bool(true))
            }
        }
    }
}
