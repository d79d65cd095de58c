import Foundation
import GRDB

/// What a database kept aside by a restore or a join by snapshot holds of
/// the analyst's that the live database lacks: rows of tables of their own,
/// views of their own, and cells of columns they added to a collection
/// table (docs/sql.md). None of it is a slot, so merging the copy back
/// brings none of it; a copy that holds any is kept under another name
/// instead of being removed (replication-model §7, "The kept-aside
/// database"), and the log says what it holds.
///
/// A restore replaces the whole file, so a table made after the snapshot
/// is only in the copy; a join adopts in place, so the copy's tables are
/// mostly still live (and the cells of added columns in
/// `<collection>_kept_columns…`), and nothing is reported for them.
/// Rows are compared as bytes with their storage class, duplicates
/// counted; views and triggers (syncd's `sync_sql_…` left out) by their SQL
/// text's bytes. What cannot be told the same counts as missing.
enum AnalystDataAside {
    /// The tables syncd makes in every store (and GRDB's migration record),
    /// compared as SQLite compares names; with the SQL-edit queues and their
    /// counter and `sync_sql_reads` (`sync_sql_…`: the queues carried by the restore itself), they are not
    /// the analyst's. A test holds this list to what a store makes.
    static let storeTables = ["grdb_migrations", "sync_meta", "sync_slots", "sync_history", "sync_buckets", "sync_cursors", "sync_peer_devices",
                              "sync_replica_log", "sync_clock_reports", "sync_schema_problems", "sync_records", "sync_feed", "sync_dot_collisions",
                              "sync_knowledge"]

    /// Whether the table `name` is one syncd makes, not the analyst's.
    static func isSyncdTable(_ name: String) -> Bool {
        let key = SQLiteName.key(name)
        return storeTables.contains { SQLiteName.key($0) == key } || key.starts(with: Array("sync_sql_".utf8)) || key.starts(with: Array("sqlite_".utf8))
    }

    /// One line per table, view, trigger or added column of the copy at
    /// `asidePath` whose content the database at `livePath` lacks; empty
    /// when none. Read-only on both; an error (a lock held past 5 s, a full
    /// disk for the comparison's temporary rows) is thrown, and the caller
    /// keeps the copy as it is and asks again later.
    static func missing(in asidePath: String, from livePath: String) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: asidePath, configuration: configuration)
        defer { try? queue.close() }
        return try queue.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS live", arguments: [livePath])
            defer { try? db.execute(sql: "DETACH DATABASE live") }
            return try missing(in: db)
        }
    }

    /// `missing(in:from:)` on a connection to the copy with the live
    /// database attached as `live`.
    static func missing(in db: Database) throws -> [String] {
        let made = try CollectionViews.tablesMade(in: db)
        let shadows = (try? String.fetchAll(db, sql: "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")) ?? []
        var lines: [String] = []
        let objects = try Row.fetchAll(db, sql: """
            SELECT type, name, CAST(sql AS BLOB) FROM main.sqlite_master
            WHERE type IN ('table', 'view') OR (type = 'trigger' AND sql IS NOT NULL) ORDER BY name
            """)
        for object in objects {
            let kind: String = object[0] ?? "", name: String = object[1] ?? ""
            // syncd's own: its tables, the SQL-edit triggers (`sync_sql_…`),
            // and a virtual table's shadow tables (FTS5's `_data`, …), which
            // hold its index: its content is compared through the virtual
            // table itself.
            if kind == "trigger", SQLiteName.key(name).starts(with: Array("sync_sql_".utf8)) { continue }
            if kind == "table", isSyncdTable(name) || shadows.contains(where: { SQLiteName.same($0, name) }) { continue }
            do {
                lines += try lacking(kind, name, sql: object[2], made: made, in: db)
            } catch let error as DatabaseError where KeptColumns.endsTheTransaction(error) {
                throw error  // the disk, a lock, the memory: asked again later
            } catch {
                // What cannot be read here (a virtual table whose module this
                // build lacks, a table too wide to compare) counts as missing.
                lines.append("\(kind) \(name): could not be compared with the live database (\(error))")
            }
        }
        return lines
    }

    /// What the live database lacks of one object of the copy.
    private static func lacking(_ kind: String, _ name: String, sql: Data?, made: [String], in db: Database) throws -> [String] {
        if kind != "table" { return try sameDefinition(kind, name, sql, in: db) ? [] : ["\(kind) \(name)"] }
        let columns = try ownColumns(of: name, in: db)
        if made.contains(where: { SQLiteName.same($0, name) }), columns.contains(where: { SQLiteName.same($0, "id") }) {
            return try addedCells(of: name, columns: columns, in: db)
        }
        if try !db.holdsTable(name, in: "live") {
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM main.\(name.quotedDatabaseIdentifier)") ?? 0
            return ["table \(name): \(rows) row(s), not in the live database"]
        }
        let count = try rowsLacking(columns, of: name, in: db)
        return count == 0 ? [] : ["table \(name): \(count) row(s) the live database lacks"]
    }

    /// Whether the live database has an object of this kind and name with
    /// the same SQL text, byte for byte.
    private static func sameDefinition(_ kind: String, _ name: String, _ sql: Data?, in db: Database) throws -> Bool {
        let live = try Data.fetchOne(db, sql: "SELECT CAST(sql AS BLOB) FROM live.sqlite_master WHERE type = ? AND name = ? COLLATE NOCASE",
                                     arguments: [kind, name])
        return live != nil && live == sql
    }

    /// The table's columns that are neither generated nor hidden (a virtual
    /// table's), in order.
    private static func ownColumns(of table: String, in db: Database, schema: String = "main") throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT name, hidden FROM pragma_table_xinfo(?, ?)", arguments: [table, schema])
            .filter { ($0[1] as Int64? ?? 0) == 0 }.compactMap { $0[0] as String? }
    }

    /// Each column as bytes (`COLLATE BINARY`: a column declared `NOCASE`
    /// or `RTRIM` would take 'Paris' and 'paris' for one value) with its
    /// storage class (text '1' is not integer 1).
    private static func exact(_ columns: [String]) -> String {
        columns.map { "\($0.quotedDatabaseIdentifier) COLLATE BINARY, typeof(\($0.quotedDatabaseIdentifier))" }.joined(separator: ", ")
    }

    /// How many rows of `main.table` (over `columns`) `live.table` lacks,
    /// duplicates counted (a row twice in the copy and once live is one
    /// lacking). Another layout live (a column it lacks), or a table too
    /// wide for the comparison's 2 values per column, throws.
    private static func rowsLacking(_ columns: [String], of table: String, in db: Database) throws -> Int {
        let quoted = table.quotedDatabaseIdentifier
        let values = exact(columns)
        func numbered(_ schema: String) -> String {
            "SELECT \(values), row_number() OVER (PARTITION BY \(values)) FROM \(schema).\(quoted)"
        }
        guard !columns.isEmpty else { return 0 }
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(numbered("main")) EXCEPT \(numbered("live")))") ?? 0
    }

    /// For each column of the collection table `table` that syncd did not
    /// lay out (`view_columns:C`), a line when a cell holding a value is in
    /// neither the live table nor one of the live `<table>_kept_columns…`.
    private static func addedCells(of table: String, columns: [String], in db: Database) throws -> [String] {
        guard let added = try CollectionViews.notLaidOut(columns, of: table, in: db), !added.isEmpty else { return [] }
        let prefix = SQLiteName.key(table + "_kept_columns")
        let candidates = try String.fetchAll(db, sql: "SELECT name FROM live.sqlite_master WHERE type = 'table'")
            .filter { SQLiteName.same($0, table) || SQLiteName.key($0).starts(with: prefix) }
        var lines: [String] = []
        for column in added {
            let pair = exact(["id", column])
            var sql = "SELECT \(pair) FROM main.\(table.quotedDatabaseIdentifier) WHERE \(column.quotedDatabaseIdentifier) IS NOT NULL"
            for candidate in candidates {
                let names = try ownColumns(of: candidate, in: db, schema: "live")
                guard names.contains(where: { SQLiteName.same($0, "id") }), names.contains(where: { SQLiteName.same($0, column) }) else { continue }
                sql += " EXCEPT SELECT \(pair) FROM live.\(candidate.quotedDatabaseIdentifier)"
            }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(sql))") ?? 0
            if count > 0 { lines.append("column \(table).\(column): \(count) cell(s) the live database lacks") }
        }
        return lines
    }
}
