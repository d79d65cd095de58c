import GRDB

/// How a write to a collection's table from another SQLite client becomes a
/// replicated edit (docs/sql.md, replication-model §8.1).
///
/// Triggers on each collection table copy every inserted, updated or deleted
/// row — before and after, byte for byte — into a queue table in the same
/// transaction as the user's statement, so a statement or transaction that
/// rolls back leaves no queued edit. The store takes the queue up later
/// (`Store.takeUpSQLEdits`) as ordinary local writes. What cannot be an edit
/// at all (changing an `id`, inserting an id that exists, writing
/// `conflicted`) is refused by the trigger, and the statement fails with the
/// reason. The store's own connections run with triggers off, so its
/// rewrites of the tables queue nothing.
struct SQLEditQueue {
    let collection: CollectionSchema

    /// The queue table of `collection`.
    static func tableName(_ collection: String) -> String { "sync_sql_edits_\(collection)" }
    /// One counter shared by every queue table: edits are numbered in the
    /// order their statements ran, across collections.
    static let counterTable = "sync_sql_counter"

    var table: String { Self.tableName(collection.name) }

    /// Whether `name` (as `sqlite_master` spells it, in any case) names a queue table.
    static func isQueueTable(_ name: String) -> Bool { SQLiteName.key(name).starts(with: SQLiteName.key(tableName(""))) }

    /// The queue tables of the main database, as named there.
    static func queueTables(in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name").filter(isQueueTable)
    }

    /// The row cells (`old …`, `new …`) among a queue table's `columns`: all but the fixed ones.
    static func cells(among columns: [String]) -> [String] {
        columns.filter { column in !fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } }
    }

    /// The table's columns in order: `id`, the fields, `conflicted`.
    var rowColumns: [String] { ["id"] + collection.fields.map(\.name) }

    static let fixedColumns = ["edit", "op", "at", "reason", "refused_at", "forced"]

    /// The row's cells before and after, as the queue table names them.
    var cellColumns: [String] { rowColumns.map { "old \($0)" } + rowColumns.map { "new \($0)" } }

    var expectedColumns: [String] { Self.fixedColumns + cellColumns }

    /// Creates (or brings up to date) the queue table and the triggers.
    /// Pending and refused edits survive a change of the table's columns:
    /// the columns both layouts have are copied over.
    func prepare(in db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(Self.counterTable)(n INTEGER NOT NULL)")
        if try Int.fetchOne(db, sql: "SELECT count(*) FROM \(Self.counterTable)") != 1 {
            // Missing or doubled (a client's doing): past every edit number in use.
            var highest: Int64 = try Int64.fetchOne(db, sql: "SELECT max(n) FROM \(Self.counterTable)") ?? 0
            for other in try Self.queueTables(in: db) {
                highest = max(highest, try Int64.fetchOne(db, sql: "SELECT max(edit) FROM \(other.quotedDatabaseIdentifier)") ?? 0)
            }
            try db.execute(sql: "DELETE FROM \(Self.counterTable)")
            try db.execute(sql: "INSERT INTO \(Self.counterTable)(n) VALUES (?)", arguments: [highest])
            // Numbers handed out meanwhile say nothing of order (`SQLEditReads`' upto).
            try SQLEditReads.forget(collection: nil, in: db)
        }
        let existing = try db.holdsTable(table, in: "main") ? try db.columns(in: table, in: "main").map(\.name) : []
        if existing != expectedColumns {
            if !existing.isEmpty { try refuseEditsOfDroppedColumns(existing: existing, in: db) }
            // A chain's cells are by position (`SQLEditReads`).
            try SQLEditReads.forget(collection: collection.name, in: db)
            try Self.rewrite(table, as: table, cellColumns: cellColumns, copying: expectedColumns.filter(existing.contains), in: db)
        }
        try db.execute(sql: Self.pendingIndex(table))
        try createTriggers(in: db)
    }

    /// Makes queue table `table` (if any) again as `name`, declared as this
    /// build declares it, holding `cellColumns`, with the `copying` columns
    /// of its rows, in edit order. Through a temporary table, not a rename:
    /// SQLite refuses `ALTER TABLE … RENAME` while any view of the database
    /// names a table that is missing (an analyst's view of a collection
    /// table being rebuilt), and would fail the open.
    /// `number`: what each row's `edit` becomes, an expression over the
    /// old table's row (`queued`); its own `edit` when nil.
    static func rewrite(_ table: String, as name: String, cellColumns: [String], copying: [String], number: String? = nil, in db: Database) throws {
        let scratch = "temp.\("sync_sql_rewrite".quotedDatabaseIdentifier)"
        let listed = copying.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        let selected = copying.map { column -> String in
            if column == "edit", let number { return "\(number) AS edit" }
            return "queued.\(column.quotedDatabaseIdentifier)"
        }.joined(separator: ", ")
        let old = "main.\(table.quotedDatabaseIdentifier)"
        let exists = try db.holdsTable(table, in: "main")
        if exists, !copying.isEmpty {
            try db.execute(sql: "DROP TABLE IF EXISTS \(scratch)")
            // (A table a client made without `edit`: its rows are numbered anew.)
            try db.execute(sql: "CREATE TABLE \(scratch) AS SELECT \(selected) FROM \(old) AS queued\(copying.contains("edit") ? " ORDER BY queued.edit" : "")")
        }
        if exists { try db.execute(sql: "DROP TABLE \(old)") }
        try db.execute(sql: declaration("main.\(name.quotedDatabaseIdentifier)", cellColumns: cellColumns))
        if exists, !copying.isEmpty {
            try db.execute(sql: "INSERT INTO main.\(name.quotedDatabaseIdentifier)(\(listed)) SELECT \(listed) FROM \(scratch) ORDER BY rowid")
            try db.execute(sql: "DROP TABLE \(scratch)")
        }
    }

    /// `CREATE TABLE` of a queue table (`name` quoted, and qualified by its
    /// schema where needed) holding `cellColumns` (`old …`, `new …`). No
    /// declared type on the cells: values keep the class and bytes they had
    /// in the collection table.
    static func declaration(_ name: String, cellColumns: [String]) -> String {
        """
        CREATE TABLE \(name)(
            edit INTEGER PRIMARY KEY,
            op TEXT NOT NULL,
            at INTEGER NOT NULL,
            reason TEXT,
            refused_at INTEGER,
            forced INTEGER NOT NULL DEFAULT 0\(cellColumns.map { ",\n    " + $0.quotedDatabaseIdentifier }.joined()))
        """
    }

    /// The index of the edits still waiting in queue table `table`, in
    /// `schema` (`main`, or an attached database's name).
    static func pendingIndex(_ table: String, schema: String = "main") -> String {
        "CREATE INDEX IF NOT EXISTS \(schema.quotedDatabaseIdentifier).\((table + "_pending").quotedDatabaseIdentifier) ON \(table.quotedDatabaseIdentifier)(edit) WHERE reason IS NULL"
    }

    /// Waiting edits that wrote a column the new layout no longer has (its
    /// field withheld by a schema conflict) are refused, the values they
    /// wrote named in the reason, instead of being taken up without them.
    private func refuseEditsOfDroppedColumns(existing: [String], in db: Database) throws {
        let dropped = existing.filter { $0.hasPrefix("new ") && !expectedColumns.contains($0) }.map { String($0.dropFirst(4)) }
        guard !dropped.isEmpty, existing.contains("reason") else { return }
        let changed = dropped.map { "\("new \($0)".quotedDatabaseIdentifier) IS NOT \("old \($0)".quotedDatabaseIdentifier)" }.joined(separator: " OR ")
        let listed = dropped.map { "'\($0)=' || quote(\("new \($0)".quotedDatabaseIdentifier))" }.joined(separator: " || ', ' || ")
        let now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        try db.execute(sql: """
            UPDATE \(table.quotedDatabaseIdentifier)
            SET reason = 'the schema no longer has ' || \(Self.literal(dropped.joined(separator: ", "))) || ' (a schema conflict withholds it: syncctl schema show); this edit wrote ' || \(listed) || ': settle the conflict with syncctl resolve, then write the value again', refused_at = \(now)
            WHERE reason IS NULL AND (\(changed))
            """)
    }

    private func triggerName(_ suffix: String) -> String { "sync_sql_\(collection.name)_\(suffix)".quotedDatabaseIdentifier }

    static let triggerSuffixes = ["refuse_insert", "refuse_id", "refuse_conflicted", "insert", "update", "delete"]

    /// Whether the queue table and every trigger are in place (one read of
    /// `sqlite_master`): a client that dropped a trigger, or replaced the
    /// table (pandas `to_sql(if_exists="replace")`), stops SQL writes from
    /// being captured until `prepare` runs again.
    ///
    /// `ofTablesThatExist`: only for the collection tables that exist. A
    /// table that is missing (a restore drops them, for the first open to
    /// write them from the records) took no SQL write meanwhile.
    static func isInPlace(_ schema: Schema, in db: Database, ofTablesThatExist: Bool = false) throws -> Bool {
        // Names as SQLite compares them (`SQLiteName`): a table renamed to
        // upper case is still the queue, not a reason to prepare again.
        let names = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('trigger', 'table')").map(SQLiteName.key))
        func holds(_ name: String) -> Bool { names.contains(SQLiteName.key(name)) }
        // One counter row: edit numbers are shared by every queue table.
        guard holds(counterTable), try Int.fetchOne(db, sql: "SELECT count(*) FROM \(counterTable)") == 1 else { return false }
        for collection in schema.tableCollections {
            if ofTablesThatExist, !holds(collection.name) { continue }
            guard holds(tableName(collection.name)) else { return false }
            for suffix in triggerSuffixes where !holds("sync_sql_\(collection.name)_\(suffix)") { return false }
        }
        return true
    }

    /// Drops the triggers (before the collection table is rebuilt).
    func dropTriggers(in db: Database) throws {
        for suffix in Self.triggerSuffixes { try db.execute(sql: "DROP TRIGGER IF EXISTS \(triggerName(suffix))") }
    }

    /// SQL text of a literal: single quotes doubled.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    private func createTriggers(in db: Database) throws {
        try dropTriggers(in: db)
        let name = collection.name.quotedDatabaseIdentifier
        let now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        let columns = cellColumns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        let oldValues = rowColumns.map { "OLD.\($0.quotedDatabaseIdentifier)" }
        let newValues = rowColumns.map { "NEW.\($0.quotedDatabaseIdentifier)" }
        let nulls = rowColumns.map { _ in "NULL" }
        func queue(_ op: String, _ old: [String], _ new: [String]) -> String {
            """
            UPDATE \(Self.counterTable) SET n = n + 1;
            INSERT INTO \(table.quotedDatabaseIdentifier)(edit, op, at, \(columns))
            VALUES ((SELECT n FROM \(Self.counterTable)), '\(op)', \(now), \((old + new).joined(separator: ", ")));
            """
        }
        let refuseInsert = Self.literal("syncd: \(collection.name) already has a record with this id: change it with UPDATE, or DELETE it first (docs/sql.md)")
        let refuseID = Self.literal("syncd: the id of a record cannot change: INSERT a record with the new id and DELETE the old one (docs/sql.md)")
        let refuseConflicted = Self.literal("syncd: conflicted is computed from the replicated state and cannot be written: settle conflicts with `syncctl resolve` (docs/sql.md)")
        let refuseBadID = Self.literal("syncd: an id is text of 1 to 128 ASCII letters, digits, '-', '_' or '.', not starting with '.' or '_' (docs/sql.md)")
        // RecordIDRule in SQL; `id` must be text (a BLOB id would pass the
        // primary key beside the same id as text).
        // length() of text stops at a NUL and counts characters: equal to the
        // byte count only for ASCII without NUL.
        let validID = "typeof(NEW.id) = 'text' AND length(CAST(NEW.id AS BLOB)) BETWEEN 1 AND 128 AND length(NEW.id) = length(CAST(NEW.id AS BLOB)) AND NEW.id NOT GLOB '*[^A-Za-z0-9._-]*' AND substr(NEW.id, 1, 1) NOT IN ('.', '_')"
        try db.execute(sql: """
            CREATE TRIGGER \(triggerName("refuse_insert")) BEFORE INSERT ON \(name)
            WHEN NOT (\(validID)) OR EXISTS (SELECT 1 FROM \(name) WHERE id = NEW.id) OR NEW.conflicted IS NOT 0
            BEGIN
                SELECT CASE
                    WHEN NOT (\(validID)) THEN RAISE(ABORT, \(refuseBadID))
                    WHEN NEW.conflicted IS NOT 0 THEN RAISE(ABORT, \(refuseConflicted))
                    ELSE RAISE(ABORT, \(refuseInsert)) END;
            END;
            CREATE TRIGGER \(triggerName("refuse_id")) BEFORE UPDATE OF id ON \(name)
            WHEN NEW.id IS NOT OLD.id
            BEGIN SELECT RAISE(ABORT, \(refuseID)); END;
            CREATE TRIGGER \(triggerName("refuse_conflicted")) BEFORE UPDATE OF conflicted ON \(name)
            WHEN NEW.conflicted IS NOT OLD.conflicted
            BEGIN SELECT RAISE(ABORT, \(refuseConflicted)); END;
            CREATE TRIGGER \(triggerName("insert")) AFTER INSERT ON \(name)
            BEGIN \(queue("insert", nulls, newValues)) END;
            CREATE TRIGGER \(triggerName("update")) AFTER UPDATE ON \(name)
            BEGIN \(queue("update", oldValues, newValues)) END;
            CREATE TRIGGER \(triggerName("delete")) AFTER DELETE ON \(name)
            BEGIN \(queue("delete", oldValues, nulls)) END;
            """)
    }
}
