import Foundation
import GRDB
import Logging

/// Schema changes as replicated writes (docs/schema.md "How the schema
/// evolves", replication-model §8.2): an analyst's change is a local write
/// to `_schema`; any transaction that changes `_schema` (local or received)
/// brings the SQL tables and the stored problems up to the new schema before
/// it commits (`SlotWriter.finish`).
extension Store {
    /// Makes one additive change (`syncctl schema …`): planned against the
    /// schema inside the write transaction, so two processes changing the
    /// schema at once are each checked against the other's change.
    @discardableResult
    public func changeSchema(_ change: SchemaEvolution.Change, author: String) throws -> (receipt: WriteReceipt, writes: SchemaEvolution.Writes) {
        var planned: SchemaEvolution.Writes?
        let receipt = try localTransaction(author: author) { tx in
            let writes = try SchemaEvolution.plan(change, against: tx.writer.schema)
            planned = writes
            let record = writes.record
            func key(_ field: String, _ element: String = "") -> SlotKey {
                SlotKey(collection: SchemaEvolution.collection, record: record, field: field, element: element)
            }
            try tx.write(key(SlotKey.existsField), .bool(true))
            for (field, value) in writes.scalars { try tx.write(key(field), value) }
            for (field, member) in writes.members { try tx.write(key(field, member), .bool(true)) }
        }
        return (receipt, planned!)
    }

    /// Takes up a schema change that another process (`syncctl schema`, a
    /// second store on the file) committed: true when the schema changed.
    /// One meta read when nothing changed; the daemon calls it on its poll.
    @discardableResult
    public func refreshSchemaIfChanged() throws -> Bool {
        let known = current.effective.schema.hash
        let seed = self.seed
        let fresh = try pool.read { db -> SchemaEvolution.Effective? in
            guard String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)) != known else { return nil }
            return try SchemaEvolution.effective(seed: seed, in: db)
        }
        guard let fresh, fresh.schema.hash != known else { return false }
        current.replace(fresh)
        options.logger.notice("the schema changed", metadata: ["path": "\(path)", "collections": "\(fresh.schema.tableCollections.count)",
                                                               "withheld": "\(fresh.problems.count)"])
        return true
    }

    /// Brings a database up to `effective` inside the caller's transaction:
    /// SQL tables and columns, the schema hash, and the received slots kept
    /// as problems that the new schema accepts.
    /// Returns the analysts' columns copied aside (`KeptColumns`), for the caller to log.
    @discardableResult
    static func adopt(_ effective: SchemaEvolution.Effective, in db: Database) throws -> [KeptColumns] {
        let kept = try CollectionViews(schema: effective.schema).prepare(in: db)
        try db.setMeta(MetaKey.schemaHash, effective.schema.hash)
        try recheckSchemaProblems(effective.schema, in: db)
        return kept
    }

    /// Forgets the stored problems that `schema` no longer objects to (data
    /// that arrived before its field was defined), and updates the others' reasons.
    /// Rows the store would not write go too: other cell types, names that
    /// are not UTF-8, and rows naming a slot this store does not hold (a
    /// merge writes a problem row in the transaction that stores its slot,
    /// so only a join snapshot, a peer's file, brings such rows: the
    /// adoption runs this in its transaction). The rows of a record whose
    /// row does not decode are left as they are: the store still opens,
    /// and `syncctl check` names the damage.
    static func recheckSchemaProblems(_ schema: Schema, in db: Database) throws {
        try db.execute(sql: "DELETE FROM sync_schema_problems WHERE \(SchemaProblemRows.mistyped)")
        // Rows naming no record at all go in one statement (a file may bring many).
        try db.execute(sql: """
            DELETE FROM sync_schema_problems WHERE NOT EXISTS (
                SELECT 1 FROM sync_records WHERE sync_records.collection = sync_schema_problems.collection
                AND sync_records.record = sync_schema_problems.record)
            """)
        // A page of rows at a time, in key order, so memory stays bounded
        // however many rows a file brought (`columns` cuts the reason short).
        var after: StatementArguments?
        var record: (ref: RecordRef, slots: [FieldElement: StoredSlot]?)?
        while true {
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(SchemaProblemRows.columns) FROM sync_schema_problems
                \(after == nil ? "" : "WHERE (collection, record, field, element) > (\(SchemaProblemRows.rawNameValues))")
                ORDER BY collection, record, field, element LIMIT \(SchemaProblemRows.recheckPage)
                """, arguments: after ?? [])
            guard let last = rows.last else { return }
            after = SchemaProblemRows.rawNames(last)
            for row in rows {
                guard let key = SchemaProblemRows.key(row) else {
                    try db.execute(sql: "DELETE FROM sync_schema_problems WHERE \(SchemaProblemRows.byRawNames)", arguments: SchemaProblemRows.rawNames(row))
                    continue
                }
                if record?.ref != key.recordRef { record = (key.recordRef, try Self.readableSlots(key.recordRef, in: db)) }
                guard let slots = record?.slots else { continue }
                let problem = slots[FieldElement(field: key.field, element: key.element)].flatMap { schema.problem(for: key, state: $0.state) }
                let stored = String.fromDatabaseValue(row[5])
                if let stored, let problem, UTF8Identity.equal(problem, stored) { continue }
                if let problem {
                    try db.execute(sql: "UPDATE sync_schema_problems SET problem = ? WHERE \(SchemaProblemRows.byRawNames)",
                                   arguments: [problem] + SchemaProblemRows.rawNames(row))
                } else {
                    try db.execute(sql: "DELETE FROM sync_schema_problems WHERE \(SchemaProblemRows.byRawNames)", arguments: SchemaProblemRows.rawNames(row))
                }
            }
        }
    }

    /// A record's slots for the recheck: empty when it has no row, nil when
    /// its row cannot be read as one (a slots cell that is not a blob, or
    /// does not decode: local damage `syncctl check` names). SQLite's own
    /// errors are thrown, so the transaction fails rather than skip rows.
    private static func readableSlots(_ ref: RecordRef, in db: Database) throws -> [FieldElement: StoredSlot]? {
        let statement = try db.cachedStatement(sql: "SELECT slots FROM sync_records WHERE collection = ? AND record = ?")
        guard let cell = try DatabaseValue.fetchOne(statement, arguments: [ref.collection, ref.id]) else { return [:] }
        guard case .blob(let data) = cell.storage else { return nil }
        return try? StoredRecord.decode([UInt8](data), ref: ref)
    }
}

/// `sync_schema_problems` rows as the store writes them.
enum SchemaProblemRows {
    /// An SQL condition true for a row with cells of other types than the
    /// store writes, or names holding NUL: the join check refuses a snapshot
    /// with one, and the recheck deletes them.
    static let mistyped = """
        typeof(collection) <> 'text' OR typeof(record) <> 'text' OR typeof(field) <> 'text' OR typeof(element) <> 'text'
        OR typeof(problem) <> 'text' OR (peer IS NOT NULL AND (typeof(peer) <> 'blob' OR length(peer) <> 16))
        OR typeof(seen_at) <> 'integer' OR instr(CAST(collection AS BLOB), x'00') > 0 OR instr(CAST(record AS BLOB), x'00') > 0
        OR instr(CAST(field AS BLOB), x'00') > 0 OR instr(CAST(element AS BLOB), x'00') > 0
        """

    /// What the readers select, in this order: the four names as bytes
    /// (GRDB reads text up to a NUL and mends invalid UTF-8, so names are
    /// read raw), the sending peer, the stored reason (its first 4,096
    /// characters: a file may bring any length; a longer reason is written
    /// again at each recheck).
    static let columns = "CAST(collection AS BLOB), CAST(record AS BLOB), CAST(field AS BLOB), CAST(element AS BLOB), peer, substr(problem, 1, 4096)"

    /// Rows the recheck reads at a time.
    static let recheckPage = 256

    /// The four raw names as a row value, after `rawNames` (`coalesce`: an
    /// empty name must not bind as NULL and match nothing).
    static let rawNameValues = "CAST(coalesce(?, x'') AS TEXT), CAST(coalesce(?, x'') AS TEXT), CAST(coalesce(?, x'') AS TEXT), CAST(coalesce(?, x'') AS TEXT)"

    /// A condition naming one row by the raw bytes of its four names
    /// (`rawNames`), through the primary key.
    static let byRawNames = "(collection, record, field, element) = (\(rawNameValues))"

    /// The slot a row of `columns` names; nil when a name is not valid
    /// UTF-8 (or a cell is of another type).
    static func key(_ row: Row) -> SlotKey? {
        var names: [String] = []
        for index in 0..<4 {
            guard let bytes = Data.fromDatabaseValue(row[index]), let name = String(validating: bytes, as: UTF8.self) else { return nil }
            names.append(name)
        }
        return SlotKey(collection: names[0], record: names[1], field: names[2], element: names[3])
    }

    /// The four names of a row of `columns` as stored, for `byRawNames`.
    static func rawNames(_ row: Row) -> StatementArguments {
        StatementArguments((0..<4).map { index -> DatabaseValue in row[index] })
    }

    /// The peer a row of `columns` names, if any.
    static func peer(_ row: Row) -> ReplicaID? {
        Data.fromDatabaseValue(row[4]).flatMap { ReplicaID(bytes: [UInt8]($0)) }
    }
}
