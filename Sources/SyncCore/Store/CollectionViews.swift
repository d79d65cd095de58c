import Foundation
import GRDB

/// The plain SQL face of the dataset: one table per collection, one column per
/// field (sets as JSON arrays), plus `conflicted` (replication-model §8).
///
/// Rows are rewritten in the same transaction as the slots they come from, so
/// `sqlite3 data.db 'select title, status from agreements'` always reads a
/// committed, consistent state. Only records that exist have a row.
struct CollectionViews {
    let schema: Schema

    /// Bumped when the shape of view tables changes (columns, indexes).
    /// 3: triggers and queue tables for SQL writes (`SQLEditQueue`).
    /// 4: a value of another type than its field is the cell `SQLCell`
    /// decides, not the one SQLite's conversion made (which differs between
    /// its versions for long numbers): the rows that can hold such a cell
    /// are rewritten once (`rewriteRowsOfMistypedCells`).
    static let layoutVersion = 4

    /// What `prepare` records in `sync_meta` once the views match this schema
    /// (`isCurrent` also checks that the SQL-write triggers are in place).
    private var layoutToken: String { "\(Self.layoutVersion):\(schema.hash)" }

    /// Whether every view table exists with the schema's columns and indexes,
    /// as recorded by `prepare` (one meta read: this runs on every open).
    func isCurrent(in db: Database) throws -> Bool {
        try String.fromDatabaseValue(db.meta(MetaKey.viewsLayout)) == layoutToken && SQLEditQueue.isInPlace(schema, in: db)
    }

    private func expectedColumns(_ collection: CollectionSchema) -> [String] {
        ["id"] + collection.fields.map(\.name) + ["conflicted"]
    }

    private func existingColumns(_ collection: CollectionSchema, in db: Database) throws -> [ColumnInfo] {
        try db.holdsTable(collection.name, in: "main") ? try db.columns(in: collection.name, in: "main") : []
    }

    /// Indexed fields: enums and references, what `list --where` filters on.
    private func indexedFields(_ collection: CollectionSchema) -> [FieldSchema] {
        collection.fields.filter { !$0.isSet && Self.indexedTypes.contains($0.type) }
    }

    /// The indexes syncd makes on `collection`'s table, by name, each on
    /// one field (`createIndex`).
    func indexes(_ collection: CollectionSchema) -> [(name: String, field: String)] {
        indexedFields(collection).map { (Self.indexName(collection, $0), $0.name) }
    }

    static func indexName(_ collection: CollectionSchema, _ field: FieldSchema) -> String {
        "\(collection.name)_by_\(field.name)"
    }

    /// The cells of columns of `collection`'s table that this schema does
    /// not declare, copied aside before the table is dropped (`KeptColumns`);
    /// nil when there are none, or no table.
    func keepUndeclaredColumns(of collection: CollectionSchema, in db: Database) throws -> KeptColumns? {
        let theirs = try undeclaredColumns(collection, existing: try existingColumns(collection, in: db).map(\.name), in: db)
        return theirs.isEmpty ? nil : try KeptColumns.keep(theirs, of: collection.name, in: db)
    }

    /// The columns of `collection`'s table that are not syncd's: those it
    /// did not lay out (`view_columns:C`), whether this schema declares
    /// them or not (an analyst's column a field added since names); in a
    /// store laid out before that was kept, those this schema does not
    /// declare. A column syncd laid out for a field withheld since is its
    /// own: dropped with the rebuild, its values still in the records, never
    /// copied (a peer flipping a definition would otherwise copy it each time).
    private func undeclaredColumns(_ collection: CollectionSchema, existing: [String], in db: Database) throws -> [String] {
        guard let theirs = try Self.notLaidOut(existing, of: collection.name, in: db) else {
            let expected = expectedColumns(collection)
            return existing.filter { column in !expected.contains { UTF8Identity.equal($0, column) } }
        }
        return theirs
    }

    /// Of the `existing` columns of the collection table `table`, those
    /// syncd did not lay out (`view_columns:C`, besides `id` and
    /// `conflicted`); nil when the store never recorded its layout.
    static func notLaidOut(_ existing: [String], of table: String, in db: Database) throws -> [String]? {
        guard let laidOut = String.fromDatabaseValue(try db.meta(MetaKey.viewColumns(table))).map(parseJSONArray) else { return nil }
        return existing.filter { column in
            !laidOut.contains { UTF8Identity.equal($0, column) } && !UTF8Identity.equal(column, "id") && !UTF8Identity.equal(column, "conflicted")
        }
    }

    /// Creates missing tables, adds the columns of added fields (`ALTER
    /// TABLE … ADD COLUMN`: the table is not rewritten, only the rows of
    /// records that hold a value for a new field), and rebuilds a table
    /// whose columns no longer match otherwise (a layout change), first
    /// copying aside the cells of columns an analyst added (`KeptColumns`,
    /// returned for the caller to log).
    @discardableResult
    func prepare(in db: Database) throws -> [KeptColumns] {
        var kept: [KeptColumns] = []
        let previousLayout = String.fromDatabaseValue(try db.meta(MetaKey.viewsLayout)).flatMap { Int($0.prefix { $0 != ":" }) }
        var made = try Self.tablesMade(in: db)
        for collection in schema.tableCollections {
            let expected = expectedColumns(collection)
            let columns = try existingColumns(collection, in: db)
            let existing = columns.map(\.name)
            let missing = expected.filter { column in !existing.contains { $0.utf8.elementsEqual(column.utf8) } }
            // A column declared with another type than its field's (a field
            // retyped by a peer's dominating write) is rebuilt, so every
            // replica stores the same values the same way.
            let retyped = columns.contains { column in
                collection.field(column.name).map { !SQLiteName.same(Self.columnType($0), column.type) } ?? false
            }
            // Also a column a field now names that syncd did not lay out (an
            // analyst's, made a field since): its cells are the analyst's,
            // copied aside, and the table is made again from the records.
            let extra = existing.filter { column in !expected.contains { UTF8Identity.equal($0, column) } }
            let theirs = try undeclaredColumns(collection, existing: existing, in: db)
            if existing.isEmpty || !extra.isEmpty || !theirs.isEmpty || retyped || missing.contains("id") || missing.contains("conflicted") {
                if !theirs.isEmpty, let copied = try KeptColumns.keep(theirs, of: collection.name, in: db) { kept.append(copied) }
                try rebuild(collection, dropping: !existing.isEmpty, in: db)
            } else if !missing.isEmpty {
                // The triggers name the queue table, which is rebuilt with the new columns.
                try SQLEditQueue(collection: collection).dropTriggers(in: db)
                for name in missing {
                    guard let field = collection.field(name) else { continue }
                    try db.execute(sql: "ALTER TABLE \(collection.name.quotedDatabaseIdentifier) ADD COLUMN \(name.quotedDatabaseIdentifier) \(Self.columnType(field))")
                    // Every row is an existing record: a set it holds no member
                    // of reads '[]', as a row written afresh has it.
                    if field.isSet { try db.execute(sql: "UPDATE \(collection.name.quotedDatabaseIdentifier) SET \(name.quotedDatabaseIdentifier) = '[]'") }
                }
                try refreshRecords(holding: missing, of: collection, in: db)
            }
            try db.setMeta(MetaKey.viewColumns(collection.name), Self.jsonArray(expected))
            for field in indexedFields(collection) { try createIndex(collection, field, in: db) }
            try SQLEditQueue(collection: collection).prepare(in: db)
            if !made.contains(collection.name) { made.append(collection.name) }
        }
        // A store without a token was laid out before tokens (or is new and empty).
        if (previousLayout ?? 0) < 4 { try rewriteRowsOfMistypedCells(in: db) }
        try db.setMeta(MetaKey.viewTables, Self.jsonArray(made))
        try db.setMeta(MetaKey.viewsLayout, layoutToken)
        return kept
    }

    /// Rewrites the rows that can hold a cell an older build let SQLite
    /// convert, so that it becomes the one every replica writes now: those
    /// of the records a schema problem names (a received value of another
    /// type than its field), and those whose INTEGER column holds a real or
    /// text (a local value written before its field was retyped, which no
    /// problem names; SQLite's conversion of text to a real is what differs
    /// between its versions). A row that already holds the right cells is
    /// left as it is (`write` compares bytes). Runs once, when the layout
    /// moves up to 4, in the transaction of the open.
    private func rewriteRowsOfMistypedCells(in db: Database) throws {
        let statements = Statements(db: db)
        func rewrite(_ name: String, _ id: String) throws {
            guard schema.tableCollections.contains(where: { $0.name.utf8.elementsEqual(name.utf8) }) else { return }
            try refreshUnlessRefused(RecordRef(collection: name, id: id), in: db, statements: statements)
        }
        let rows = try Row.fetchCursor(db, sql: "SELECT DISTINCT CAST(collection AS BLOB), CAST(record AS BLOB) FROM sync_schema_problems")
        while let row = try rows.next() {
            let collection: Data = row[0], record: Data = row[1]
            guard let name = String(validating: collection, as: UTF8.self), let id = String(validating: record, as: UTF8.self) else { continue }
            try rewrite(name, id)
        }
        for collection in schema.tableCollections {
            let columns = collection.fields.filter { !$0.isSet && Self.columnType($0) == "INTEGER" }.map(\.name.quotedDatabaseIdentifier)
            guard !columns.isEmpty, try db.holdsTable(collection.name, in: "main") else { continue }
            let condition = columns.map { "typeof(\($0)) IN ('real', 'text')" }.joined(separator: " OR ")
            let ids = try Data.fetchAll(db, sql: "SELECT CAST(id AS BLOB) FROM \(collection.name.quotedDatabaseIdentifier) WHERE \(condition)")
            for id in ids { if let text = String(validating: id, as: UTF8.self) { try rewrite(collection.name, text) } }
        }
    }

    /// The collection tables this store has made (their names stay taken
    /// by it even when a collection is withheld for a while).
    static func tablesMade(in db: Database) throws -> [String] {
        guard try db.holdsTable("sync_meta", in: "main") else { return [] }
        return String.fromDatabaseValue(try db.meta(MetaKey.viewTables)).map(parseJSONArray) ?? []
    }

    private func rebuild(_ collection: CollectionSchema, dropping: Bool, in db: Database) throws {
        if dropping { try db.execute(sql: "DROP TABLE \(collection.name.quotedDatabaseIdentifier)") }
        // A view in the table's place (names compared as SQLite does, without
        // case): said plainly, not SQLite's "already exists". Left for its
        // owner to drop (an open changes no object of theirs; `syncctl
        // check --repair`, asked to, drops it).
        if let (kind, view) = try db.storedObject(named: collection.name), kind == "view" {
            throw StoreError.invalidEdit("a view named \(view) stands where syncd keeps its table \(collection.name); drop it (`DROP VIEW \(view.quotedDatabaseIdentifier)`) and start again: syncd makes the table from the replicated state")
        }
        let columns = ["id TEXT PRIMARY KEY NOT NULL"] + collection.fields.map { field in
            "\(field.name.quotedDatabaseIdentifier) \(Self.columnType(field))"
        } + ["conflicted INTEGER NOT NULL DEFAULT 0"]
        try db.execute(sql: "CREATE TABLE \(collection.name.quotedDatabaseIdentifier)(\(columns.joined(separator: ", ")))")
        // Straight from the stored slots, in one pass, each row written
        // whole (the table is new): as a join writes them.
        let statements = Statements(db: db)
        try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
            try write(ref, slots: slots, in: db, statements: statements, new: true)
        }
    }

    /// Rewrites the rows of the records that hold a slot of one of `fields`
    /// (data that arrived before its field was defined).
    private func refreshRecords(holding fields: [String], of collection: CollectionSchema, in db: Database) throws {
        var refs: [RecordRef] = []
        try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "id") { ref, slots in
            if slots.keys.contains(where: { slot in fields.contains { $0.utf8.elementsEqual(slot.field.utf8) } }) { refs.append(ref) }
        }
        let statements = Statements(db: db)
        for ref in refs { try refreshUnlessRefused(ref, in: db, statements: statements) }
    }

    /// Creates the index of a filtered field unless its name is taken by
    /// another object (an analyst's table, say): the index only speeds
    /// `list --where` up, and a taken name must never fail the transaction
    /// that applies a schema change.
    private func createIndex(_ collection: CollectionSchema, _ field: FieldSchema, in db: Database) throws {
        let name = Self.indexName(collection, field)
        if let row = try Row.fetchOne(db, sql: "SELECT type, tbl_name FROM sqlite_master WHERE name = ? COLLATE NOCASE", arguments: [name]) {
            let type: String = row[0], table: String = row[1]
            guard type == "index", SQLiteName.same(table, collection.name) else { return }
        }
        try db.execute(sql: """
            CREATE INDEX IF NOT EXISTS \(name.quotedDatabaseIdentifier)
            ON \(collection.name.quotedDatabaseIdentifier)(\(field.name.quotedDatabaseIdentifier))
            """)
    }

    /// Rewrites (or removes) the view row of one record, reading its slots.
    func refresh(_ ref: RecordRef, in db: Database, statements: Statements? = nil) throws {
        try write(ref, view: try RecordView.load(ref, from: db), in: db, statements: statements)
    }

    /// `refresh`, except that a row a constraint of the analyst's own
    /// refuses is left as it stands, reported by `viewDrift` (`RefusedRows`):
    /// a SQL edit's row put back, which must not hold up the edits after it.
    /// False when it was refused.
    /// Also rows rewritten when a table is laid out again (a field added,
    /// an older layout upgraded), which may ride on a peer's batch.
    @discardableResult
    func refreshUnlessRefused(_ ref: RecordRef, in db: Database, statements: Statements? = nil) throws -> Bool {
        try Self.unlessRefused(in: db) { try refresh(ref, in: db, statements: statements) } == nil
    }

    /// Runs the write of one row; when a constraint of the analyst's own
    /// refuses it (`RefusedRows.isRefusal`), the row is left as it stands,
    /// `rows_held_back` is set, and SQLite's message is returned (nil when written).
    static func unlessRefused(in db: Database, _ write: () throws -> Void) throws -> String? {
        do {
            try write()
            return nil
        } catch where RefusedRows.isRefusal(error, stillInTransaction: db.isInsideTransaction) {
            try db.setMeta(MetaKey.rowsHeldBack, 1)
            return (error as? DatabaseError)?.message ?? "\(error)"
        }
    }

    /// Writes the view row of one record from its reading (removes it when the
    /// record does not exist).
    func write(_ ref: RecordRef, view: RecordView?, in db: Database, statements: Statements? = nil) throws {
        guard let collection = schema.collection(ref.collection), !collection.name.hasPrefix("_") else { return }
        try write(ref, row: view.map { ViewRow(collection, view: $0) }, collection, in: db, statements: statements, new: false)
    }

    /// Writes the view row of one record straight from its stored slots.
    ///
    /// - Parameter new: the record had no stored row before this
    ///   transaction: its row is written whole, without reading what stands
    ///   (a row an outside client inserted gets syncd's columns, and keeps
    ///   the cells of columns an analyst added).
    func write(_ ref: RecordRef, slots: [FieldElement: StoredSlot], in db: Database, statements: Statements? = nil, new: Bool = false) throws {
        guard let collection = schema.collection(ref.collection), !collection.name.hasPrefix("_") else { return }
        try write(ref, row: ViewRow(collection, slots: slots), collection, in: db, statements: statements, new: new)
    }

    private func write(_ ref: RecordRef, row: ViewRow?, _ collection: CollectionSchema, in db: Database, statements: Statements?, new: Bool) throws {
        let statements = statements ?? Statements(db: db)
        guard let row, row.exists else {
            let delete = try statements.delete(collection)
            delete.bind(1, ref.id)
            try delete.execute()
            return
        }
        // The row as it stands: only the columns whose bytes differ are
        // written, so an index whose column did not change is not touched
        // (a replaced row rewrites every index entry and its primary key).
        let select = try statements.select(collection)
        select.bind(1, ref.id)
        guard !new, try select.step() else {
            select.reset()
            func insert(with statement: FastStatement) throws {
                statement.bind(1, ref.id)
                for offset in 0...collection.fields.count { bind(row, offset, collection, to: statement, at: Int32(offset + 2)) }
                try statement.execute()
            }
            do {
                try insert(with: try statements.insert(collection))
            } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
                // The upsert was prepared (and cached) before another program
                // made the table again without its key: it fails only when run.
                guard let plain = try statements.plainInsertInstead(collection) else { throw error }
                try insert(with: plain)
            }
            return
        }
        let changed = Self.differingColumns(select, from: 0, row, collection)
        select.reset()
        guard !changed.isEmpty else { return }
        let update = try statements.update(collection, columns: changed)
        for (position, offset) in changed.enumerated() { bind(row, offset, collection, to: update, at: Int32(position + 1)) }
        update.bind(Int32(changed.count + 1), ref.id)
        try update.execute()
    }

    /// The columns (offsets into the fields; the field count meaning
    /// `conflicted`) whose stored value, read from `statement` at `first`
    /// on, is not exactly what writing `row` stores: the same storage class
    /// and the same bytes, NUL and all (never through a Swift `String`).
    static func differingColumns(_ statement: FastStatement, from first: Int32, _ row: ViewRow, _ collection: CollectionSchema) -> [Int] {
        var changed: [Int] = []
        // By index: a FieldSchema copied per column costs retains of its strings.
        for offset in collection.fields.indices {
            let column = first + Int32(offset)
            let same: Bool
            if collection.fields[offset].isSet {
                same = statement.column(column, holds: .text(jsonArrayBytes(row.members[offset])))
            } else if let cell = SQLCell.converted(row.values[offset], in: collection.fields[offset]) {
                same = statement.column(column, holds: cell)
            } else {
                same = statement.column(column, holds: row.values[offset])
            }
            if !same { changed.append(offset) }
        }
        if !statement.column(first + Int32(collection.fields.count), holds: .int(row.conflicted ? 1 : 0)) { changed.append(collection.fields.count) }
        return changed
    }

    /// Binds column `offset` of `row` as the table holds it: a field (a set
    /// as a JSON array), or `conflicted` at the field count.
    private func bind(_ row: ViewRow, _ offset: Int, _ collection: CollectionSchema, to statement: FastStatement, at index: Int32) {
        if offset == collection.fields.count {
            statement.bind(index, row.conflicted ? 1 : 0)
        } else if collection.fields[offset].isSet {
            statement.bind(index, Self.jsonArray(row.members[offset]))
        } else if let cell = SQLCell.converted(row.values[offset], in: collection.fields[offset]) {
            statement.bind(index, cell)
        } else {
            statement.bind(index, row.values[offset])
        }
    }

    /// The view statements of one transaction, prepared once per collection.
    final class Statements {
        let db: Database
        private var inserts: [String: FastStatement] = [:]
        private var selects: [String: FastStatement] = [:]
        /// Prepared outside GRDB's cache: one per set of changed columns, up
        /// to 2^fields of them, finalized with this object (one transaction).
        private var updates: [String: OwnedStatement] = [:]
        private var deletes: [String: FastStatement] = [:]

        init(db: Database) { self.db = db }

        /// The fields' columns in order, then `conflicted`.
        private static func columns(_ collection: CollectionSchema) -> [String] {
            collection.fields.map(\.name.quotedDatabaseIdentifier) + ["conflicted"]
        }

        /// Statements are kept per collection and field count, so one
        /// prepared for fewer columns is never bound as another. Make a
        /// `Statements` after the transaction's schema changes: a schema
        /// change clears GRDB's statement cache, whose handles the select,
        /// insert and delete statements borrow (the updates are owned).
        private static func key(_ collection: CollectionSchema) -> String {
            "\(collection.name)\u{0}\(collection.fields.count)"
        }

        func insert(_ collection: CollectionSchema) throws -> FastStatement {
            if let statement = inserts[Self.key(collection)] { return statement }
            let statement: FastStatement
            do {
                statement = try FastStatement(db, Self.upsert(collection))
            } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
                statement = try FastStatement(db, Self.plainInsert(collection))
            }
            inserts[Self.key(collection)] = statement
            return statement
        }

        /// The plain insert, after the upsert failed when run with
        /// SQLITE_ERROR: nil unless the upsert no longer prepares (the table
        /// lost its key since it was cached), so any other error stands.
        func plainInsertInstead(_ collection: CollectionSchema) throws -> FastStatement? {
            do {
                _ = try OwnedStatement(db, Self.upsert(collection))
                return nil
            } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
                let statement = try FastStatement(db, Self.plainInsert(collection))
                inserts[Self.key(collection)] = statement
                return statement
            }
        }

        /// Columns named: a field added later is a column at the end.
        private static func insertColumns(_ collection: CollectionSchema) -> (columns: String, placeholders: String) {
            ((["id"] + columns(collection)).joined(separator: ", "),
             Array(repeating: "?", count: collection.fields.count + 2).joined(separator: ", "))
        }

        /// A row already there (one an SQL client inserted, not yet taken
        /// up) keeps the cells of columns an analyst added: only syncd's
        /// columns are set. (`id` too: in a table keyed without case, as
        /// another program may make it, the row found is another spelling's,
        /// and is taken over as a replace would — `syncctl check` names such a table.)
        private static func upsert(_ collection: CollectionSchema) -> String {
            let (columns, placeholders) = insertColumns(collection)
            let assignments = (["id"] + Self.columns(collection)).map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            return "INSERT INTO \(collection.name.quotedDatabaseIdentifier)(\(columns)) VALUES (\(placeholders)) ON CONFLICT(id) DO UPDATE SET \(assignments)"
        }

        /// For a table another program made again without its key (until
        /// `syncctl check --repair` makes it again): no conflict target to name.
        private static func plainInsert(_ collection: CollectionSchema) -> String {
            let (columns, placeholders) = insertColumns(collection)
            return "INSERT OR REPLACE INTO \(collection.name.quotedDatabaseIdentifier)(\(columns)) VALUES (\(placeholders))"
        }

        func select(_ collection: CollectionSchema) throws -> FastStatement {
            if let statement = selects[Self.key(collection)] { return statement }
            let statement = try FastStatement(db, "SELECT \(Self.columns(collection).joined(separator: ", ")) FROM \(collection.name.quotedDatabaseIdentifier) WHERE id = ?")
            selects[Self.key(collection)] = statement
            return statement
        }

        /// `UPDATE … SET` the given columns (offsets into the fields, the
        /// field count meaning `conflicted`), then `WHERE id = ?`.
        func update(_ collection: CollectionSchema, columns offsets: [Int]) throws -> FastStatement {
            let key = Self.key(collection) + "\u{0}" + offsets.map(String.init).joined(separator: ",")
            if let statement = updates[key] { return FastStatement(statement) }
            let names = Self.columns(collection)
            let assignments = offsets.map { "\(names[$0]) = ?" }.joined(separator: ", ")
            let statement = try OwnedStatement(db, "UPDATE \(collection.name.quotedDatabaseIdentifier) SET \(assignments) WHERE id = ?")
            updates[key] = statement
            return FastStatement(statement)
        }

        func delete(_ collection: CollectionSchema) throws -> FastStatement {
            if let statement = deletes[collection.name] { return statement }
            let statement = try FastStatement(db, "DELETE FROM \(collection.name.quotedDatabaseIdentifier) WHERE id = ?")
            deletes[collection.name] = statement
            return statement
        }
    }

    static let indexedTypes: Set<FieldSchema.Kind> = [.enumeration, .ref]

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

    /// The strings of a JSON array written by `jsonArray` (anything else,
    /// e.g. a view row edited by hand, goes through Foundation's parser).
    static func parseJSONArray(_ json: String) -> [String] {
        guard !json.utf8.contains(UInt8(ascii: "\\")) else {
            // Our own reader first: Foundation's parser on Linux drops U+FEFF
            // inside strings, which would lose a member's bytes (§2.4).
            if let members = parseEscapedJSONArray(Array(json.utf8)) { return members }
            return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String] ?? []
        }
        let trimmed = json.utf8
        guard trimmed.first == UInt8(ascii: "["), trimmed.last == UInt8(ascii: "]") else { return [] }
        // Bytes, not `Character`s: a quote followed by a combining mark is
        // one `Character` that is not `"`, so a member opening with a mark
        // (U+0742, found by fuzz-import) was dropped from every read (§2.4).
        let bytes = Array(trimmed)
        var members: [String] = []
        var start: Int?
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\"") {
            if let open = start {
                members.append(String(decoding: bytes[(open + 1)..<index], as: UTF8.self))
                start = nil
            } else {
                start = index
            }
        }
        return members
    }

    /// A JSON array of strings with escapes, byte for byte (RFC 8259: `\"`,
    /// `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX` with surrogate
    /// pairs); nil when it is not one.
    static func parseEscapedJSONArray(_ bytes: [UInt8]) -> [String]? {
        var index = 0
        func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
        func hex4() -> UInt32? {
            guard index + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else { return nil }
            index += 4
            return value
        }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var members: [String] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; skipSpace(); return index == bytes.count ? [] : nil }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            var member: [UInt8] = []
            while true {
                guard index < bytes.count else { return nil }
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                guard byte == UInt8(ascii: "\\") else { member.append(byte); continue }
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): member.append(escape)
                case UInt8(ascii: "b"): member.append(0x08)
                case UInt8(ascii: "f"): member.append(0x0C)
                case UInt8(ascii: "n"): member.append(0x0A)
                case UInt8(ascii: "r"): member.append(0x0D)
                case UInt8(ascii: "t"): member.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    member.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: return nil
                }
            }
            guard let text = String(validating: member, as: UTF8.self) else { return nil }
            members.append(text)
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            guard bytes[index] == UInt8(ascii: "]") else { return nil }
            index += 1
            skipSpace()
            return index == bytes.count ? members : nil
        }
    }

    /// One member as it appears inside a `jsonArray` column: quoted and
    /// escaped (what an `instr` pre-filter must look for).
    static func jsonToken(_ member: String) -> String {
        String(jsonArray([member]).dropFirst().dropLast())
    }

    /// A WHERE clause true when the set column (quoted) holds no members:
    /// `FIELD=` on a set field (syncctl list --where, the API's where).
    static func emptySetClause(_ column: String) -> String {
        "(\(column) IS NULL OR \(column) = '[]')"
    }

    /// A JSON array of strings, escaped per RFC 8259 (hot path: no Foundation;
    /// a member with nothing to escape is copied whole).
    static func jsonArray(_ members: [String]) -> String {
        String(decoding: jsonArrayBytes(members), as: UTF8.self)
    }

    /// `jsonArray` as its UTF-8 bytes.
    static func jsonArrayBytes(_ members: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(members.reduce(2) { $0 + $1.utf8.count + 3 })
        out.append(UInt8(ascii: "["))
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            if member.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                out.append(contentsOf: member.utf8)
            } else {
                appendEscaped(member, to: &out)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    private static func appendEscaped(_ member: String, to out: inout [UInt8]) {
        for byte in member.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: Array("\\\"".utf8))
            case UInt8(ascii: "\\"): out.append(contentsOf: Array("\\\\".utf8))
            case UInt8(ascii: "\n"): out.append(contentsOf: Array("\\n".utf8))
            case UInt8(ascii: "\r"): out.append(contentsOf: Array("\\r".utf8))
            case UInt8(ascii: "\t"): out.append(contentsOf: Array("\\t".utf8))
            case _ where byte < 0x20:
                let hex = String(byte, radix: 16)
                out.append(contentsOf: Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8))
            default: out.append(byte)
            }
        }
    }
}
